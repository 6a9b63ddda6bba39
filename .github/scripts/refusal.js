// apply.yml refused a merge: the merged commit would not do what reviewers approved on the pull request.
// This posts (or updates) one comment on that PR with the refusal (the difference by address and the inputs
// that moved), the fresh plan of the merged commit, and how to approve it: someone with write access runs the
// apply workflow by hand (workflow_dispatch) with the fresh change digest. Called from actions/github-script:
//   const { askForApproval } = require('./.github/scripts/refusal.js')
// Environment: PR (number), REFUSAL (the apply step's markdown), MARKDOWN (the fresh plan), DIGEST (its digest),
// and in a repository of stacks STACK and SUFFIX (the matrix's): one such comment per stack.
'use strict'

const fs = require('fs')
const { upsertComment } = require('./sticky.js')

const MARKER = '<!-- voicectl-approval -->'
const LIMIT = 65000 // GitHub refuses comments over 65,536 characters
// The fresh plan is quoted, not the PR's plan: without its markers, so the approval lookup never takes it for one.
const PLAN_LINES = /^<!-- voicectl-(plan|changes|fingerprint|apply)(: [^>]*)? -->\n?/gm

function read(path) {
  return path && fs.existsSync(path) ? fs.readFileSync(path, 'utf8').replace(PLAN_LINES, '') : ''
}

async function askForApproval({ github, context, core }) {
  const { owner, repo } = context.repo
  const digest = process.env.DIGEST || ''
  const suffix = process.env.SUFFIX || ''
  const marker = suffix ? `<!-- voicectl-approval${suffix} -->` : MARKER
  const stack = suffix ? ` -f stack=${process.env.STACK}` : ''
  const workflow = `${context.serverUrl}/${owner}/${repo}/actions/workflows/apply.yml`
  const refusal = read(process.env.REFUSAL)
  const plan = read(process.env.MARKDOWN)
  const approve = digest
    ? [
        '**To apply what is planned now**, someone with write access reviews the plan below and runs ' +
          `[voicectl apply](${workflow}) (Run workflow, on main) with \`expect-changes\` set to` +
          (suffix ? ` (and \`stack\` to \`${process.env.STACK}\`):` : ':'),
        '',
        '```text',
        digest,
        '```',
        '',
        `or: \`gh workflow run apply.yml --ref main${stack} -f expect-changes=${digest}\``,
      ]
    : ['The merged commit could not be planned: see the run.']
  const head = [
    marker,
    `### ⛔ voicectl apply refused ${context.sha.slice(0, 7)}${suffix ? ` for stack \`${process.env.STACK}\`` : ''}: ` +
      'the merge changed what it would do',
    '',
    'Nothing was applied. The commit that landed would not make the change set approved on this pull request ' +
      '(another change merged in between touched the same voices, or the account changed under them).',
    '',
    ...approve,
    '',
  ]
  const tail = ['<details><summary>Why it was refused</summary>', '', refusal, '</details>', '', plan]
  let body = [...head, ...tail].join('\n')
  if (body.length > LIMIT) body = body.slice(0, LIMIT - 40) + '\n\n_(trimmed: see the run)_\n'
  return await upsertComment({ github, context, core, marker, body, issueNumber: Number(process.env.PR) })
}

module.exports = { askForApproval, MARKER }
