import type { ReactNode } from 'react'

/** `**bold**` inside a line. */
function inline(text: string): ReactNode[] {
  return text.split(/(\*\*[^*]+\*\*)/g).map((part, i) =>
    part.startsWith('**') && part.endsWith('**') && part.length > 4 ? <strong key={i}>{part.slice(2, -2)}</strong> : part,
  )
}

/** The small Markdown of the legal texts (headings, paragraphs, `-` lists, bold) as React
 *  elements: no HTML is ever injected. */
export function Markdown({ text }: { text: string }) {
  const blocks: ReactNode[] = []
  let list: string[] = []
  let paragraph: string[] = []
  const flush = () => {
    if (paragraph.length) {
      blocks.push(
        <p key={blocks.length} className="leading-relaxed">
          {inline(paragraph.join(' '))}
        </p>,
      )
      paragraph = []
    }
    if (list.length) {
      blocks.push(
        <ul key={blocks.length} className="list-disc space-y-1 pl-5">
          {list.map((item, i) => (
            <li key={i}>{inline(item)}</li>
          ))}
        </ul>,
      )
      list = []
    }
  }
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    const heading = /^(#{1,3})\s+(.*)$/.exec(line)
    if (!line) flush()
    else if (heading) {
      flush()
      const level = heading[1].length
      blocks.push(
        level === 1 ? (
          <h2 key={blocks.length} className="text-lg font-semibold">
            {inline(heading[2])}
          </h2>
        ) : (
          <h3 key={blocks.length} className="pt-1 font-semibold">
            {inline(heading[2])}
          </h3>
        ),
      )
    } else if (line.startsWith('- ')) {
      if (paragraph.length) flush()
      list.push(line.slice(2))
    } else {
      if (list.length) flush()
      paragraph.push(line)
    }
  }
  flush()
  return <div className="flex flex-col gap-2 text-[15px]">{blocks}</div>
}
