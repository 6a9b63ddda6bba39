// Sticky PR comments and issues, found by a hidden HTML marker in their body, so that every run edits the
// same one instead of piling up new ones. Called from actions/github-script steps (plan.yml, drift.yml):
//   const { upsertComment } = require('./.github/scripts/sticky.js')
// `github` is github-script's authenticated Octokit, `context` its event context, `core` @actions/core.
'use strict'

// Only comments and issues written by a bot (the workflow's GITHUB_TOKEN, or an app token) count: a person
// quoting the marker must never have their text overwritten, or be mistaken for the plan.
function isOurs(item, marker) {
  return typeof item.body === 'string' && item.body.includes(marker) && !!item.user && item.user.type === 'Bot'
}

function withMarker(body, marker) {
  return body.includes(marker) ? body : `${marker}\n${body}`
}

// Create or update the one comment carrying `marker` on the pull request; delete duplicates a race left.
async function upsertComment({ github, context, core, marker, body, issueNumber }) {
  const { owner, repo } = context.repo
  const issue_number = issueNumber || context.issue.number
  body = withMarker(body, marker)
  const comments = await github.paginate(github.rest.issues.listComments, { owner, repo, issue_number, per_page: 100 })
  const ours = comments.filter((c) => isOurs(c, marker))
  let action = 'created'
  let comment
  if (ours.length === 0) {
    comment = (await github.rest.issues.createComment({ owner, repo, issue_number, body })).data
  } else {
    comment = ours[0]
    action = comment.body === body ? 'unchanged' : 'updated'
    if (action === 'updated') {
      comment = (await github.rest.issues.updateComment({ owner, repo, comment_id: comment.id, body })).data
    }
    for (const extra of ours.slice(1)) {
      await github.rest.issues.deleteComment({ owner, repo, comment_id: extra.id })
    }
  }
  core.info(`voicectl: ${action} comment ${comment.html_url || comment.id}`)
  core.setOutput('comment-id', String(comment.id))
  core.setOutput('comment-action', action)
  return action
}

// The drift issue: with `open`, create or update the one open issue carrying `marker`; without, close it
// (with a comment saying when drift was last seen gone). Duplicates are closed as well.
async function syncIssue({ github, context, core, marker, title, body, open }) {
  const { owner, repo } = context.repo
  const issues = await github.paginate(github.rest.issues.listForRepo, { owner, repo, state: 'open', per_page: 100 })
  const ours = issues.filter((i) => !i.pull_request && isOurs(i, marker))
  const runUrl = `${context.serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`
  let action = 'none'
  let number = ''
  if (open) {
    body = withMarker(body, marker)
    if (ours.length === 0) {
      number = (await github.rest.issues.create({ owner, repo, title, body })).data.number
      action = 'opened'
    } else {
      number = ours[0].number
      action = ours[0].body === body && ours[0].title === title ? 'unchanged' : 'updated'
      if (action === 'updated') {
        await github.rest.issues.update({ owner, repo, issue_number: number, title, body })
      }
    }
  }
  const toClose = open ? ours.slice(1) : ours
  for (const issue of toClose) {
    const why = open ? `Duplicate of #${number}.` : `No drift any more as of ${runUrl}: closing.`
    await github.rest.issues.createComment({ owner, repo, issue_number: issue.number, body: why })
    await github.rest.issues.update({
      owner,
      repo,
      issue_number: issue.number,
      state: 'closed',
      state_reason: open ? 'not_planned' : 'completed',
    })
    if (!open) {
      action = 'closed'
      number = issue.number
    }
  }
  core.info(`voicectl: drift issue ${action}${number ? ` #${number}` : ''}`)
  core.setOutput('issue-action', action)
  core.setOutput('issue-number', String(number))
  return action
}

module.exports = { isOurs, upsertComment, syncIssue }
