# Voices whose name starts with prod- must be protected (protect: true), so no plan deletes or replaces them
# without --allow-delete. Read from voices.yaml (input.config), so it holds for every declared voice.
package voicectl

deny contains msg if {
	some voice in input.config.voices
	startswith(voice.name, "prod-")
	not voice.protect
	msg := sprintf("voice.%s: a prod- voice must be protected: add `protect: true`", [voice.name])
}
