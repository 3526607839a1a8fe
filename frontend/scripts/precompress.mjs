// After `vite build`: writes <file>.br and <file>.gz next to every text file in dist/ (the server
// sends them as they are to clients that accept them; src/http/spa.rs), then checks the budget:
// the JavaScript loaded at start (index.html's module script and its preloads) must stay within
// INITIAL_JS_BUDGET bytes gzipped.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { brotliCompressSync, constants, gzipSync } from 'node:zlib'

const DIST = new URL('../dist/', import.meta.url).pathname
const TEXT = /\.(js|mjs|css|html|svg|json|txt|webmanifest)$/
const INITIAL_JS_BUDGET = 120 * 1024

function* files(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) yield* files(path)
    else yield path
  }
}

const sizes = new Map()
for (const path of files(DIST)) {
  if (!TEXT.test(path)) continue
  const raw = readFileSync(path)
  const gz = gzipSync(raw, { level: 9 })
  const br = brotliCompressSync(raw, {
    params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: raw.length },
  })
  // Tiny files gain nothing; the server then sends them as they are.
  if (gz.length < raw.length) writeFileSync(`${path}.gz`, gz)
  if (br.length < raw.length) writeFileSync(`${path}.br`, br)
  sizes.set(`/${relative(DIST, path)}`, { raw: raw.length, gz: gz.length, br: br.length })
}

const index = readFileSync(join(DIST, 'index.html'), 'utf8')
const initial = [...index.matchAll(/<(?:script[^>]+src|link[^>]+rel="modulepreload"[^>]+href)="([^"]+\.js)"/g)].map((m) => m[1])
const total = initial.reduce((sum, src) => {
  const s = sizes.get(src)
  if (!s) throw new Error(`index.html loads ${src}, which is not in dist/`)
  return { raw: sum.raw + s.raw, gz: sum.gz + s.gz, br: sum.br + s.br }
}, { raw: 0, gz: 0, br: 0 })
const kb = (n) => `${(n / 1024).toFixed(1)} KB`
console.log(`initial JS (${initial.length} file${initial.length === 1 ? '' : 's'}): ${kb(total.raw)}, gzip ${kb(total.gz)}, brotli ${kb(total.br)}`)
if (total.gz > INITIAL_JS_BUDGET) {
  console.error(`the initial JS is over its budget of ${kb(INITIAL_JS_BUDGET)} gzipped`)
  process.exit(1)
}
