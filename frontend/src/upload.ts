// Photos are made small on the phone before they are sent: a 12 MP camera photo is 3–6 MB and
// took 30 s on slow mobile data, while the image model gains nothing above ≈ 2560 px. WebP
// (marketplace pictures) is converted here too, so any server version takes it.
import { api, ApiError, type PhotoKind, type Upload } from './api'

/** The longest side sent to the server. */
export const MAX_SIDE = 2560
/** What the picker offers; anything else is refused before upload. */
export const ACCEPTED_TYPES = ['image/jpeg', 'image/png', 'image/webp']
/** The server's limit (`storage.max_upload_bytes`). */
export const MAX_BYTES = 5 * 1024 * 1024
/** Re-encoded even when small enough in pixels: a JPEG/PNG heavier than this. */
const HEAVY_BYTES = 2 * 1024 * 1024

export type Prepared = { blob: Blob; name: string; width?: number; height?: number }

function jpegName(name: string): string {
  return `${name.replace(/\.[a-z0-9]+$/i, '') || 'photo'}.jpg`
}

/** `file`, downscaled to `MAX_SIDE` and re-encoded as JPEG (quality 0.9) when it is larger, WebP
 *  or heavy; as it is otherwise, or where the browser cannot decode it (the server then decides). */
export async function preparePhoto(file: File): Promise<Prepared> {
  if (typeof createImageBitmap !== 'function') return { blob: file, name: file.name }
  let bitmap: ImageBitmap
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: 'from-image' })
  } catch {
    return { blob: file, name: file.name }
  }
  try {
    const scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height))
    if (scale === 1 && file.type !== 'image/webp' && file.size <= HEAVY_BYTES) {
      return { blob: file, name: file.name, width: bitmap.width, height: bitmap.height }
    }
    const width = Math.max(1, Math.round(bitmap.width * scale))
    const height = Math.max(1, Math.round(bitmap.height * scale))
    const canvas = document.createElement('canvas')
    canvas.width = width
    canvas.height = height
    const context = canvas.getContext('2d')
    if (!context) return { blob: file, name: file.name }
    // JPEG has no transparency: a transparent PNG gets a white background.
    context.fillStyle = '#ffffff'
    context.fillRect(0, 0, width, height)
    context.imageSmoothingQuality = 'high'
    context.drawImage(bitmap, 0, 0, width, height)
    const blob = await new Promise<Blob | null>((resolve) => canvas.toBlob(resolve, 'image/jpeg', 0.9))
    return blob ? { blob, name: jpegName(file.name), width, height } : { blob: file, name: file.name }
  } finally {
    bitmap.close()
  }
}

/** Checks, prepares and uploads a chosen photo; `onPercent` follows the bytes sent (0 … 100).
 *  Refusals are `ApiError`s with the user's message, like the server's. */
export async function uploadPhoto(
  file: File,
  messages: { onlyImages: string; tooBig: string },
  onPercent: (percent: number) => void,
  kind?: PhotoKind,
): Promise<Upload> {
  if (!ACCEPTED_TYPES.includes(file.type)) throw new ApiError(415, 'unsupported_type', messages.onlyImages)
  const photo = await preparePhoto(file)
  if (photo.blob.size > MAX_BYTES) throw new ApiError(413, 'too_large', messages.tooBig)
  return api.upload(photo.blob, photo.name, (fraction) => onPercent(Math.round(fraction * 100)), kind)
}
