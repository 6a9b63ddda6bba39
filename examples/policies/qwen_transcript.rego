# Every Qwen voice needs its transcript (`text`): the service checks it against the speech and clones better
# with it.
package voicectl

deny contains msg if {
	some voice in input.config.voices
	startswith(voice.model, "qwen")
	not voice.text
	msg := sprintf("voice.%s: a Qwen voice needs `text:`, the transcript of its audio", [voice.name])
}
