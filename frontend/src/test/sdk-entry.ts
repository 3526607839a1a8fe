// Entry for src/telegram.bundle.test.ts: telegram.ts as the production bundler builds it.
import { insideTelegram, startParam, tg } from '../telegram'

Object.assign(window, { __bundled: { tg, insideTelegram, startParam } })
