/**
 * The frontend's schemas checked against the types generated from the Rust API types
 * (`src/api/generated/`, `make types`; issue 14). `npm run typecheck` fails when the server's
 * answer (the generated type) is no longer what a schema accepts — a field renamed, removed, or
 * its type changed on one side only — so the two sides cannot drift silently. A field the server
 * adds and the schema ignores is fine (zod strips unknown keys).
 */
import type { z } from 'zod'
import type {
  Accepted as AcceptedSchema,
  Balance,
  Chat,
  ChatMessage as ChatMessageSchema,
  Consents,
  Contact,
  Generation,
  GenerationPage as GenerationPageSchema,
  Category,
  Legal,
  LedgerEntry,
  LedgerPage as LedgerPageSchema,
  Me,
  Payment,
  Plan,
  Product,
  User,
} from '../api'
import type { Accepted } from './generated/Accepted'
import type { BalanceView } from './generated/BalanceView'
import type { ChatMessage } from './generated/ChatMessage'
import type { ChatView } from './generated/ChatView'
import type { ConsentsView, ContactView, LegalView } from './generated/Legal'
import type { GenerationPage, GenerationView } from './generated/GenerationView'
import type { LedgerEntryView, LedgerPage, MeResponse, PlanView, UserView } from './generated/Me'
import type { PaymentView, ProductView } from './generated/Plans'
import type { TryOnCategory } from './generated/TryOnCategory'

/** `Server` (what the API sends) is accepted by `Schema`. */
type Accepts<Schema extends z.ZodTypeAny, Server> = [Server] extends [z.input<Schema>] ? true : false
type Check<T extends true> = T

export type Contract = [
  Check<Accepts<typeof Balance, BalanceView>>,
  Check<Accepts<typeof User, UserView>>,
  Check<Accepts<typeof Plan, PlanView>>,
  Check<Accepts<typeof Me, MeResponse>>,
  Check<Accepts<typeof AcceptedSchema, Accepted>>,
  Check<Accepts<typeof Generation, GenerationView>>,
  Check<Accepts<typeof GenerationPageSchema, GenerationPage>>,
  Check<Accepts<typeof Category, TryOnCategory>>,
  Check<Accepts<typeof ChatMessageSchema, ChatMessage>>,
  Check<Accepts<typeof Chat, ChatView>>,
  Check<Accepts<typeof LedgerEntry, LedgerEntryView>>,
  Check<Accepts<typeof LedgerPageSchema, LedgerPage>>,
  Check<Accepts<typeof Product, ProductView>>,
  Check<Accepts<typeof Payment, PaymentView>>,
  Check<Accepts<typeof Legal, LegalView>>,
  Check<Accepts<typeof Consents, ConsentsView>>,
  Check<Accepts<typeof Contact, ContactView>>,
]
