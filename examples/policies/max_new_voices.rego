# At most 5 new voices per plan (a replacement, which clones a voice anew, counts too): a bigger batch goes
# in several pull requests, so each review stays readable and the account's quota is not raced.
package voicectl

max_new_voices := 5

new_voices := [change.address | some change in input.changes; "create" in change.actions]

deny contains msg if {
	count(new_voices) > max_new_voices
	msg := sprintf("%d new voices in one plan, at most %d: split the change", [count(new_voices), max_new_voices])
}

warn contains msg if {
	count(new_voices) == max_new_voices
	msg := sprintf("%d new voices: the most one plan may have", [max_new_voices])
}
