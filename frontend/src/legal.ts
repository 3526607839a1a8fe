// Which legal document the Documents screen opens on (set by the link that opened it).
export type DocKind = 'offer' | 'privacy' | 'autorenew'

let wanted: DocKind = 'offer'

/** Remembers the document to show; the caller then opens the `legal` screen. */
export function wantDocument(kind: DocKind) {
  wanted = kind
}

export function wantedDocument(): DocKind {
  return wanted
}
