// plan.yml's sticky comment of one stack's plan: edited in place on every push, it says which commit it is the
// plan of, against which base, and what merging applies. The run marker lets apply.yml fetch this run's plan
// file. In a repository of stacks each stack has its own comment: voicectl's marker <!-- voicectl-plan --> is
// replaced by <!-- voicectl-plan-STACK -->, so no stack's comment is mistaken for another's. Called from an
// actions/github-script step with env MARKDOWN, DIGEST, STACK, STACK_FILE and SUFFIX (the matrix's):
//   const { planComment } = require('./.github/scripts/plan_comment.js')
'use strict'

const fs = require('fs')
const { upsertComment } = require('./sticky.js')

const PLAN_MARKER = '<!-- voicectl-plan -->'

function stackMarker(suffix) {
  return suffix ? `<!-- voicectl-plan${suffix} -->` : PLAN_MARKER
}

async function planComment({ github, context, core }) {
  const pr = context.payload.pull_request
  const suffix = process.env.SUFFIX || ''
  const marker = stackMarker(suffix)
  const run = `${context.serverUrl}/${context.repo.owner}/${context.repo.repo}/actions/runs/${context.runId}`
  const approval = process.env.DIGEST
    ? `Merging applies this change set (digest \`${process.env.DIGEST.slice(0, 19)}…\`) on the merged commit, ` +
      'or nothing if it would then do anything else.'
    : 'This plan failed: merging applies nothing that was reviewed here.'
  const footer =
    `\n---\n<!-- voicectl-run: ${context.runId} -->\n<sub>Plan of ${pr.head.sha.slice(0, 7)} against ` +
    `base ${pr.base.sha.slice(0, 7)} ([run](${run}), plan file: artifact \`voicectl-plan-pr${pr.number}${suffix}\`). ` +
    `${approval}</sub>\n`
  let body = fs.readFileSync(process.env.MARKDOWN, 'utf8')
  if (suffix) {
    body = body.replace(PLAN_MARKER, `${marker}\n**Stack \`${process.env.STACK}\`** (\`${process.env.STACK_FILE}\`)\n`)
  }
  return await upsertComment({ github, context, core, marker, body: body + footer })
}

module.exports = { planComment, stackMarker, PLAN_MARKER }
