// The fingerprint handshake: apply.yml applies, after a merge, exactly the plan reviewers saw on the PR.
//
// plan.yml's sticky comment carries `<!-- voicectl-fingerprint: sha256:... -->` (written by voicectl's
// markdown view). On the push that merged the PR this finds that PR (the commit's associated pull requests,
// the one merged as this very commit first), reads the fingerprint from the bot's plan comment and returns
// it, so the apply step can pass `--expect-fingerprint`: if voices.yaml, an audio file, the state or the
// account changed since the plan was shown, voicectl refuses with "plan is stale" and nothing is changed.
// Returns '' when there is nothing to pin to (a direct push, no comment, a plan that failed); the apply then
// runs unpinned, and the reason is logged. Called from an actions/github-script step:
//   const { reviewedFingerprint } = require('./.github/scripts/fingerprint.js')
'use strict'

const { isOurs } = require('./sticky.js')

const PLAN_MARKER = '<!-- voicectl-plan -->'
const FINGERPRINT = /<!-- voicectl-fingerprint: (sha256:[0-9a-f]{64}) -->/

async function reviewedFingerprint({ github, context, core, marker = PLAN_MARKER }) {
  const { owner, repo } = context.repo
  const sha = context.sha
  const pulls = (await github.rest.repos.listPullRequestsAssociatedWithCommit({ owner, repo, commit_sha: sha })).data
  const merged = pulls.filter((p) => p.merged_at)
  const pr = merged.find((p) => p.merge_commit_sha === sha) || merged[0]
  const found = (status, fingerprint = '', number = '') => {
    core.setOutput('status', status)
    core.setOutput('pr', String(number))
    core.setOutput('fingerprint', fingerprint)
    return fingerprint
  }
  if (!pr) {
    core.notice(`voicectl: ${sha} was not merged from a pull request; applying without a reviewed fingerprint`)
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
    core.warning(`voicectl: PR #${pr.number} has no plan comment; applying without a reviewed fingerprint`)
    return found('no-comment', '', pr.number)
  }
  const match = plan.body.match(FINGERPRINT)
  if (!match) {
    core.warning(`voicectl: the plan comment of PR #${pr.number} has no fingerprint (its plan failed); applying unpinned`)
    return found('no-fingerprint', '', pr.number)
  }
  core.info(`voicectl: PR #${pr.number} was reviewed with plan ${match[1]}`)
  return found('found', match[1], pr.number)
}

module.exports = { reviewedFingerprint, FINGERPRINT }
