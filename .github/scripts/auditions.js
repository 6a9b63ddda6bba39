// The apply workflow's comment on the merged pull request: a link to the artifact holding one WAV sample of
// each voice the apply cloned or updated, and each sample's duration and lint metrics, read from the
// auditions.json that `voicectl apply --audition DIR` writes. Called from an actions/github-script step:
//   const { commentAuditions } = require('./.github/scripts/auditions.js')
// with env PR (the pull request's number), INDEX (the path of auditions.json) and ARTIFACT_URL.
'use strict'

const fs = require('fs')
const { upsertComment } = require('./sticky.js')

const MARKER = '<!-- voicectl-auditions -->'

// Table cells hold text from the samples' index: a pipe or a line break would break the row.
function cell(text) {
  return String(text).replace(/\|/g, '\\|').replace(/\r?\n/g, ' ')
}

function row(sample) {
  const m = sample.metrics
  if (!sample.file) {
    return `| \`${cell(sample.address)}\` | none | | | | ${cell(sample.problem || 'no sample')} |`
  }
  const speech = m ? `${Math.round(m.speech_ratio * 100)}%` : ''
  const snr = m && m.snr_db !== null ? `${m.snr_db} dB` : ''
  const loudness = m ? `${m.lufs} LUFS` : ''
  const verdict = sample.voice_heard ? (sample.simulated ? 'simulated (local provider)' : 'voice heard') : '⚠️ no voice heard: silence or noise came back (a failed clone)'
  return `| \`${cell(sample.address)}\` | \`${cell(sample.file)}\` | ${Number(sample.seconds).toFixed(1)} s | ${speech} | ${snr} / ${loudness} | ${cell(verdict)} |`
}

function auditionsBody(index, artifactUrl, runUrl) {
  const samples = index.samples || []
  const heard = samples.filter((s) => s.file).length
  const lines = [
    MARKER,
    `### 🔊 Auditions: ${heard} of ${samples.length} voices this merge cloned or updated`,
    '',
    artifactUrl
      ? `Listen: [download the samples](${artifactUrl}) (one WAV per voice, named as below; kept 30 days).`
      : 'The samples are attached to the apply run as an artifact.',
    '',
    '| Voice | Sample | Duration | Speech | SNR / loudness | Verdict |',
    '| --- | --- | --- | --- | --- | --- |',
    ...samples.map(row),
    '',
    `<sub>From the apply [run](${runUrl}).</sub>`,
  ]
  return lines.join('\n')
}

async function commentAuditions({ github, context, core }) {
  const index = JSON.parse(fs.readFileSync(process.env.INDEX, 'utf8'))
  const { owner, repo } = context.repo
  const runUrl = `${context.serverUrl}/${owner}/${repo}/actions/runs/${context.runId}`
  const suffix = process.env.SUFFIX || ''
  const marker = suffix ? `<!-- voicectl-auditions${suffix} -->` : MARKER
  let body = auditionsBody(index, process.env.ARTIFACT_URL || '', runUrl)
  if (suffix) body = body.replace(MARKER, `${marker}\n**Stack \`${process.env.STACK}\`**`)
  const missing = (index.samples || []).filter((s) => !s.voice_heard && !s.problem).length
  if (missing) core.warning(`voicectl: ${missing} sample(s) with no voice heard: listen before relying on them`)
  return await upsertComment({ github, context, core, marker, body, issueNumber: Number(process.env.PR) })
}

module.exports = { commentAuditions, auditionsBody, MARKER }
