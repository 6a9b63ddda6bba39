// The approval handshake: apply.yml applies, after a merge, the change set reviewers approved on the PR.
//
// plan.yml's sticky comment carries `<!-- voicectl-changes: sha256:... -->` (the plan's changes_digest,
// written by voicectl's markdown view), `<!-- voicectl-fingerprint: sha256:... -->` and, in its footer,
// `<!-- voicectl-run: RUN_ID -->` (the run whose artifact holds the plan file). On the push that merged the
// PR this finds that PR (the commit's associated pull requests, the one merged as this very commit first),
// reads them from the bot's plan comment and returns the digest, so the apply step can pass
// `--expect-changes` (and `--approved-plan` with the artifact): voicectl re-plans on the merged commit and
// applies only if it would do exactly what was approved, whatever else moved in between (another PR's apply).
// Returns '' when there is nothing to pin to (a direct push, no comment, a plan that failed); the apply then
// runs unpinned, and the reason is logged. Called from an actions/github-script step:
//   const { reviewedPlan } = require('./.github/scripts/approval.js')
'use strict'

const { isOurs } = require('./sticky.js')

const PLAN_MARKER = '<!-- voicectl-plan -->'
const CHANGES = /<!-- voicectl-changes: (sha256:[0-9a-f]{64}) -->/
const FINGERPRINT = /<!-- voicectl-fingerprint: (sha256:[0-9a-f]{64}) -->/
const RUN = /<!-- voicectl-run: (\d+) -->/

async function reviewedPlan({ github, context, core, marker = PLAN_MARKER }) {
  const { owner, repo } = context.repo
  const sha = context.sha
  const pulls = (await github.rest.repos.listPullRequestsAssociatedWithCommit({ owner, repo, commit_sha: sha })).data
  const merged = pulls.filter((p) => p.merged_at)
  const pr = merged.find((p) => p.merge_commit_sha === sha) || merged[0]
  const found = (status, { digest = '', fingerprint = '', number = '', run = '' } = {}) => {
    core.setOutput('status', status)
    core.setOutput('pr', String(number))
    core.setOutput('changes-digest', digest)
    core.setOutput('fingerprint', fingerprint)
    core.setOutput('plan-run', run)
    return digest
  }
  if (!pr) {
    core.notice(`voicectl: ${sha} was not merged from a pull request; applying without an approved change set`)
    return found('no-pr')
  }
  const comments = await github.paginate(github.rest.issues.listComments, {
    owner,
    repo,
    issue_number: pr.number,
    per_page: 100,
  })
  const plan = comments.filter((c) => isOurs(c, marker)).pop()
  if (!plan) {
    core.warning(`voicectl: PR #${pr.number} has no plan comment; applying without an approved change set`)
    return found('no-comment', { number: pr.number })
  }
  const digest = plan.body.match(CHANGES)
  if (!digest) {
    core.warning(`voicectl: the plan comment of PR #${pr.number} has no change digest (its plan failed); applying unpinned`)
    return found('no-digest', { number: pr.number })
  }
  const fingerprint = (plan.body.match(FINGERPRINT) || [])[1] || ''
  const run = (plan.body.match(RUN) || [])[1] || ''
  core.info(`voicectl: PR #${pr.number} was approved with change set ${digest[1]}`)
  return found('found', { digest: digest[1], fingerprint, number: pr.number, run })
}

module.exports = { reviewedPlan, CHANGES, FINGERPRINT, RUN }
