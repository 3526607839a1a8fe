// Telegram helpers against the real SDK in an emulated Telegram client (src/test/telegram-client.ts:
// launch parameters in the hash, a TelegramWebviewProxy recording every postEvent and answering
// CloudStorage's methods, events sent back through Telegram.WebView.receiveEvent): no mock of the SDK.
import { act, renderHook } from '@testing-library/react'
import { afterEach, describe, expect, it, vi } from 'vitest'
import palettes from '../e2e/palettes.json'

const { events, cloud } = await vi.hoisted(async () => (await import('./test/telegram-client')).installTelegramClient())

const { initTelegram, cloudStorage, CloudStorageError, confirmAction, haptic, insideTelegram, telegramLanguage, useBackButton, useMainButton } = await import('./telegram')
const { storageCalls } = await import('./test/telegram-client')
const { contrast } = await import('./theme')

const receive = (type: string, data?: unknown) =>
  act(() => (window as unknown as { Telegram: { WebView: { receiveEvent: (t: string, d: unknown) => void } } }).Telegram.WebView.receiveEvent(type, data))
const last = (type: string) => [...events].reverse().find(([t]) => t === type)?.[1]

describe('inside the emulated Telegram client', () => {
  it('sees the launch parameters', () => {
    expect(insideTelegram()).toBe(true)
    expect(telegramLanguage()).toBe('en')
  })

  it('keeps the MainButton active exactly when the action can run, and a press runs it', () => {
    const onClick = vi.fn()
    const { rerender, unmount } = renderHook((p: { enabled: boolean; progress: boolean }) => useMainButton('Примерить', onClick, p), {
      initialProps: { enabled: false, progress: false },
    })
    expect(last('web_app_setup_main_button')).toMatchObject({ is_visible: true, is_active: false, text: 'Примерить' })
    receive('main_button_pressed')
    expect(onClick).not.toHaveBeenCalled()

    rerender({ enabled: true, progress: false })
    expect(last('web_app_setup_main_button')).toMatchObject({ is_active: true })
    receive('main_button_pressed')
    expect(onClick).toHaveBeenCalledTimes(1)

    rerender({ enabled: true, progress: true })
    expect(last('web_app_setup_main_button')).toMatchObject({ is_progress_visible: true, is_active: false })
    // hideProgress() alone re-activates the button: after the progress it must stay disabled.
    rerender({ enabled: false, progress: false })
    expect(last('web_app_setup_main_button')).toMatchObject({ is_progress_visible: false, is_active: false })

    unmount()
    expect(last('web_app_setup_main_button')).toEqual({ is_visible: false })
  })

  it('shows the BackButton while asked and calls back on its press', () => {
    const onBack = vi.fn()
    const { rerender } = renderHook(({ visible }) => useBackButton(visible, onBack), { initialProps: { visible: true } })
    expect(last('web_app_setup_back_button')).toEqual({ is_visible: true })
    receive('back_button_pressed')
    expect(onBack).toHaveBeenCalledTimes(1)
    rerender({ visible: false })
    expect(last('web_app_setup_back_button')).toEqual({ is_visible: false })
  })

  it('asks through Telegram’s own confirm popup', async () => {
    const answer = confirmAction('Удалить?')
    expect(last('web_app_open_popup')).toMatchObject({ message: 'Удалить?' })
    receive('popup_closed', { button_id: 'ok' })
    await expect(answer).resolves.toBe(true)
    const refused = confirmAction('Удалить?')
    receive('popup_closed', {})
    await expect(refused).resolves.toBe(false)
  })

  it('gives haptic feedback', () => {
    haptic('error')
    expect(last('web_app_trigger_haptic_feedback')).toEqual({ type: 'notification', notification_type: 'error' })
  })

  it('says it is ready, expands, and follows theme_changed with readable colours', () => {
    initTelegram()
    expect(events.map(([t]) => t)).toEqual(expect.arrayContaining(['web_app_ready', 'web_app_expand']))
    receive('theme_changed', { theme_params: palettes['ios-light'] })
    const css = getComputedStyle(document.documentElement)
    const [hint, section] = ['--app-hint', '--app-section'].map((v) => css.getPropertyValue(v).trim())
    expect(section).toBe('#ffffff')
    expect(contrast(hint, section)).toBeGreaterThanOrEqual(4.5)
    expect(document.documentElement.dataset.scheme).toBe('light')
    expect(last('web_app_set_header_color')).toEqual({ color: '#efeff4' })
    receive('theme_changed', { theme_params: palettes['android-dark'] })
    expect(document.documentElement.dataset.scheme).toBe('dark')
    expect(last('web_app_set_background_color')).toEqual({ color: '#151e27' })
  })
})

describe('CloudStorage through the real SDK', () => {
  afterEach(() => {
    vi.useRealTimers()
    Object.assign(cloud, { mode: 'ok', delayMs: 0 })
    cloud.values.clear()
  })

  it('stores, reads and removes a value with the client’s custom methods', async () => {
    expect(cloudStorage.available()).toBe(true)
    const before = storageCalls(events).length
    await cloudStorage.set('quiz_draft', '{"step":"what"}')
    expect(cloud.values.get('quiz_draft')).toBe('{"step":"what"}')
    await expect(cloudStorage.get('quiz_draft')).resolves.toBe('{"step":"what"}')
    await cloudStorage.remove('quiz_draft')
    // Telegram answers an empty string for a key without a value: that is no value.
    await expect(cloudStorage.get('quiz_draft')).resolves.toBeNull()
    expect(storageCalls(events).slice(before)).toEqual([
      ['saveStorageValue', { key: 'quiz_draft', value: '{"step":"what"}' }],
      ['getStorageValues', { keys: ['quiz_draft'] }],
      ['deleteStorageValues', { keys: ['quiz_draft'] }],
      ['getStorageValues', { keys: ['quiz_draft'] }],
    ])
  })

  it('refuses what Telegram would refuse before asking it', async () => {
    const before = storageCalls(events).length
    await expect(cloudStorage.set('no spaces', 'x')).rejects.toMatchObject({ reason: 'invalid' })
    await expect(cloudStorage.set('k', 'x'.repeat(4097))).rejects.toMatchObject({ reason: 'invalid' })
    expect(storageCalls(events).length).toBe(before)
  })

  it('rejects on Telegram’s error and gives up on a client that does not answer', async () => {
    cloud.mode = 'error'
    await expect(cloudStorage.get('quiz_draft')).rejects.toBeInstanceOf(CloudStorageError)
    await expect(cloudStorage.set('quiz_draft', 'x')).rejects.toMatchObject({ reason: 'failed' })
    vi.useFakeTimers()
    cloud.mode = 'silent'
    const read = cloudStorage.get('quiz_draft', 1500)
    const outcome = expect(read).rejects.toMatchObject({ reason: 'timeout' })
    await vi.advanceTimersByTimeAsync(1499)
    let settled = false
    void read.catch(() => (settled = true))
    await Promise.resolve()
    expect(settled).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    await outcome
  })
})
