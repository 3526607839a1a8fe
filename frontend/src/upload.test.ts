import { afterEach, describe, expect, it, vi } from 'vitest'
import { MAX_SIDE, preparePhoto } from './upload'

afterEach(() => vi.unstubAllGlobals())

function fakeCanvas(drawn: { w: number; h: number }[]) {
  const real = document.createElement.bind(document)
  return vi.spyOn(document, 'createElement').mockImplementation((tag: string) => {
    if (tag !== 'canvas') return real(tag)
    const canvas = {
      width: 0,
      height: 0,
      getContext: () => ({ fillRect: vi.fn(), drawImage: () => drawn.push({ w: canvas.width, h: canvas.height }), fillStyle: '' }),
      toBlob: (cb: (b: Blob) => void, type: string) => cb(new Blob(['x'], { type })),
    }
    return canvas as unknown as HTMLElement
  })
}

describe('preparePhoto', () => {
  it('downscales a big photo to the long side limit as JPEG', async () => {
    const drawn: { w: number; h: number }[] = []
    vi.stubGlobal('createImageBitmap', async () => ({ width: 4000, height: 3000, close: vi.fn() }))
    const spy = fakeCanvas(drawn)
    const out = await preparePhoto(new File(['p'], 'IMG_1.png', { type: 'image/png' }))
    expect(drawn).toEqual([{ w: MAX_SIDE, h: 1920 }])
    expect(out.name).toBe('IMG_1.jpg')
    expect(out.blob.type).toBe('image/jpeg')
    spy.mockRestore()
  })

  it('converts WebP even when small, and keeps a small JPEG as it is', async () => {
    const drawn: { w: number; h: number }[] = []
    vi.stubGlobal('createImageBitmap', async () => ({ width: 800, height: 600, close: vi.fn() }))
    const spy = fakeCanvas(drawn)
    const webp = await preparePhoto(new File(['w'], 'item.webp', { type: 'image/webp' }))
    expect(webp.blob.type).toBe('image/jpeg')
    expect(drawn).toEqual([{ w: 800, h: 600 }])
    const jpeg = new File(['j'], 'me.jpg', { type: 'image/jpeg' })
    expect((await preparePhoto(jpeg)).blob).toBe(jpeg)
    spy.mockRestore()
  })

  it('sends the file untouched where the browser cannot decode it', async () => {
    vi.stubGlobal('createImageBitmap', async () => {
      throw new Error('no')
    })
    const file = new File(['h'], 'x.heic', { type: 'image/heic' })
    expect((await preparePhoto(file)).blob).toBe(file)
  })
})
