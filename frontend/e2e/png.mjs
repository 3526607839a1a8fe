// Test pictures without an image library.
import { deflateSync } from 'node:zlib'

/** A real PNG (a colour with a darker square) without any image library; `texture` adds a
 *  fine checker pattern (a camera's detail), so the server's sharpness check passes. */
export function png(width, height, [r, g, b], texture = true, square = true) {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    return c >>> 0
  })
  const crc = (buf) => {
    let c = 0xffffffff
    for (const byte of buf) c = crcTable[(c ^ byte) & 0xff] ^ (c >>> 8)
    return (c ^ 0xffffffff) >>> 0
  }
  const chunk = (type, data) => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(data.length)
    const body = Buffer.concat([Buffer.from(type), data])
    const sum = Buffer.alloc(4)
    sum.writeUInt32BE(crc(body))
    return Buffer.concat([len, body, sum])
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8
  ihdr[9] = 2
  const raw = Buffer.alloc((width * 3 + 1) * height)
  // Blocks that stay a few pixels wide when the server scales the photo to 512 px.
  const block = Math.max(4, Math.round(Math.max(width, height) / 150))
  for (let y = 0; y < height; y++) {
    raw[y * (width * 3 + 1)] = 0
    for (let x = 0; x < width; x++) {
      const inner = square && x > width / 4 && x < (3 * width) / 4 && y > height / 4 && y < (3 * height) / 4
      const o = y * (width * 3 + 1) + 1 + x * 3
      const d = texture ? ((Math.floor(x / block) + Math.floor(y / block)) % 2 ? 16 : -16) : 0
      const c = (v) => Math.max(0, Math.min(255, Math.round((inner ? v / 2 : v) + d)))
      raw[o] = c(r)
      raw[o + 1] = c(g)
      raw[o + 2] = c(b)
    }
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ])
}


/** A picture to upload, `width`×`height`, with detail (a try-on photo needs ≥ 512 px on its
 *  shorter side and some sharpness: docs/API.md "Photo checks"). */
export const photo = (name, colour, width = 600, height = 800) => ({ name, mimeType: 'image/png', buffer: png(width, height, colour) })

/** A flat picture of one colour: the server refuses it as a person photo (`too_blurry`). */
export const flatPhoto = (name, colour, width = 600, height = 800) => ({ name, mimeType: 'image/png', buffer: png(width, height, colour, false, false) })
