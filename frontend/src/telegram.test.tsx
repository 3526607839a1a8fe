import { renderHook } from '@testing-library/react'
import { describe, expect, it, vi } from 'vitest'

const mainButton = vi.hoisted(() => ({
  setText: vi.fn(),
  enable: vi.fn(),
  disable: vi.fn(),
  showProgress: vi.fn(),
  hideProgress: vi.fn(),
  onClick: vi.fn(),
  offClick: vi.fn(),
  show: vi.fn(),
  hide: vi.fn(),
}))
const showConfirm = vi.hoisted(() => vi.fn((_: string, cb: (ok: boolean) => void) => cb(true)))

vi.mock('@twa-dev/sdk', () => ({
  default: { initData: 'query_id=1&hash=x', MainButton: mainButton, showConfirm, isVersionAtLeast: () => true },
}))

const { confirmAction, useMainButton } = await import('./telegram')

describe('inside Telegram', () => {
  it('drives the MainButton and removes it on unmount', () => {
    const onClick = vi.fn()
    const { result, unmount, rerender } = renderHook(({ enabled }) => useMainButton('Примерить', onClick, { enabled }), {
      initialProps: { enabled: false },
    })
    expect(result.current).toBe(true)
    expect(mainButton.setText).toHaveBeenCalledWith('Примерить')
    expect(mainButton.disable).toHaveBeenCalled()
    expect(mainButton.show).toHaveBeenCalled()
    rerender({ enabled: true })
    expect(mainButton.enable).toHaveBeenCalled()
    const click = mainButton.onClick.mock.calls.at(-1)?.[0] as () => void
    click()
    expect(onClick).toHaveBeenCalledTimes(1)
    unmount()
    expect(mainButton.offClick).toHaveBeenCalledWith(click)
    expect(mainButton.hide).toHaveBeenCalled()
  })

  it('asks through Telegram’s own confirm popup', async () => {
    await expect(confirmAction('Удалить?')).resolves.toBe(true)
    expect(showConfirm).toHaveBeenCalledWith('Удалить?', expect.any(Function))
  })
})
