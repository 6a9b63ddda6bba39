# No deletes outside the maintenance window: Saturday and Sunday, 02:00 to 06:00 UTC. A delete (or a
# replacement, which deletes the old voice) at any other time is denied. The time is the plan's own
# (input.context: weekday and hour in UTC; VOICECTL_POLICY_NOW fixes it), so the rule is tested at chosen times.
package voicectl

window_days := {"Saturday", "Sunday"}

in_window if {
	input.context.weekday in window_days
	input.context.hour >= 2
	input.context.hour < 6
}

deny contains msg if {
	some change in input.changes
	"delete" in change.actions
	not in_window
	msg := sprintf("%s: deletes only in the maintenance window (Sat-Sun 02:00-06:00 UTC); it is %s", [change.address, input.context.now])
}
