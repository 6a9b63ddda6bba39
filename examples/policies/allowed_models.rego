# Only models from an allowed list: a voice planned with any other model is denied.
package voicectl

allowed_models := {"cosyvoice-v3-flash", "cosyvoice-v3-plus", "qwen3-tts-vc-realtime-2026-01-15"}

deny contains msg if {
	some change in input.changes
	model := change.after.model
	not model in allowed_models
	# concat, not sprintf, joins a built-in's result: regopy 1.5.2 quotes such a string inside sprintf.
	msg := concat("", [change.address, ": model ", model, " is not allowed (allowed: ", concat(", ", sort(allowed_models)), ")"])
}
