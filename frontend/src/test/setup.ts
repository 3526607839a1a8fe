import '@testing-library/jest-dom/vitest'
import { cleanup } from '@testing-library/react'
import { afterEach } from 'vitest'

// Vitest runs without globals, so Testing Library cannot register its own cleanup.
afterEach(cleanup)

// Telegram's SDK logs every event it exchanges with the client: keep test output readable.
const log = console.log
console.log = (...args: unknown[]) => {
  if (typeof args[0] === 'string' && args[0].startsWith('[Telegram.')) return
  log(...args)
}

// jsdom has no scrolling.
window.scrollTo = () => undefined
