/**
 * Reading PDFs back in tests: a writable that keeps what a renderer streams into it, and the
 * text, links and metadata of the result as pdf.js extracts them.
 */
import { Writable } from 'node:stream';
import { getDocument } from 'pdfjs-dist/legacy/build/pdf.mjs';

/** A writable that keeps what it is given. */
export function collector(): { sink: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
  return { sink, bytes: () => Buffer.concat(chunks) };
}

export interface PdfContent {
  /** Text of the pages read, in reading order, lines separated by "\n". */
  text: string;
  /** Per page read, its text. */
  pages: string[];
  numPages: number;
  /** URLs of every link annotation on the pages read. */
  links: string[];
  title: string | undefined;
  language: string | undefined;
}

/** The content of `pdf`: every page, or the 1-based `pageNumbers` given. */
export async function readPdf(pdf: Buffer, pageNumbers?: number[]): Promise<PdfContent> {
  const document = await getDocument({ data: new Uint8Array(pdf), useSystemFonts: false, isEvalSupported: false, verbosity: 0 }).promise;
  try {
    const pages: string[] = [];
    const links: string[] = [];
    for (const number of pageNumbers ?? Array.from({ length: document.numPages }, (_, index) => index + 1)) {
      const page = await document.getPage(number);
      let text = '';
      const content = await page.getTextContent();
      for (const item of content.items) if ('str' in item) text += item.str + (item.hasEOL ? '\n' : ' ');
      // pdf.js puts its own spaces between the runs it finds; one space is what the page shows.
      pages.push(text.replace(/ {2,}/g, ' '));
      for (const annotation of (await page.getAnnotations()) as { subtype: string; url?: string }[]) {
        if (annotation.subtype === 'Link' && annotation.url) links.push(annotation.url);
      }
    }
    const { info } = (await document.getMetadata()) as { info: { Title?: string; Language?: string } };
    return { text: pages.join('\n'), pages, numPages: document.numPages, links, title: info.Title, language: info.Language };
  } finally {
    await document.destroy();
  }
}
