/**
 * Fonts and text setup shared by every PDF the gateway renders (statements, patient receipts).
 *
 * One embedded family covers English, Traditional and Simplified Chinese: Noto Sans SC (SIL Open
 * Font License 1.1, from the npm package `@expo-google-fonts/noto-sans-sc`). Its character set is
 * GB 18030's, which holds the traditional characters too (醫療收據 as well as 医疗收据), so one
 * font serves `en`, `zh-HK` and `zh-CN`. Glyph shapes follow the mainland standard; where a
 * Hong Kong form differs it is a stroke-level detail, not another character. pdfkit embeds only
 * the glyphs a document uses (a subset of a few tens of kilobytes), so the 10 MB font files stay
 * on disk.
 *
 * Mind one property of embedded fonts in pdfkit: each remembers the layout of every distinct
 * word it has drawn, for the life of the document. Text drawn with {@link PDF_FONTS}.`text` or
 * `.bold` must therefore come from a bounded set (labels, names, headings); data that grows with
 * the document (amounts, dates, hashes in a long table) goes in the standard PDF fonts
 * `figures` and `mono`, which are not embedded, cache nothing and are several times faster,
 * but draw ASCII only (Windows-1252, to be exact).
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import PDFDocument from 'pdfkit';

/** Languages a PDF can be written in. */
export type PdfLanguage = 'en' | 'zh-HK' | 'zh-CN';

/** Font names to pass to `doc.font(...)` once {@link registerPdfFonts} has run. */
export const PDF_FONTS = {
  /** Noto Sans SC Regular, embedded: Latin, Traditional and Simplified Chinese. */
  text: 'ClinicPay-Sans',
  /** Noto Sans SC Bold, embedded. */
  bold: 'ClinicPay-Sans-Bold',
  /** Standard Helvetica (not embedded, ASCII only): numbers and dates in long tables. */
  figures: 'Helvetica',
  /** Standard Helvetica Bold (not embedded, ASCII only). */
  figuresBold: 'Helvetica-Bold',
  /** Standard Courier (not embedded, ASCII only): hashes and addresses, where a fixed pitch helps the eye. */
  mono: 'Courier',
} as const;

export type PdfFontName = (typeof PDF_FONTS)[keyof typeof PDF_FONTS];

/** Where the embedded fonts come from: package-relative paths, resolved through Node's resolver. */
const FONT_FILES = {
  [PDF_FONTS.text]: '@expo-google-fonts/noto-sans-sc/400Regular/NotoSansSC_400Regular.ttf',
  [PDF_FONTS.bold]: '@expo-google-fonts/noto-sans-sc/700Bold/NotoSansSC_700Bold.ttf',
} as const;

const require = createRequire(import.meta.url);
let fontData: Map<string, Buffer> | null = null;

/**
 * The embedded fonts' bytes, read on first use and kept for the life of the process (about
 * 21 MB outside the JS heap), so that each document parses them from memory instead of disk.
 */
function loadFontData(): Map<string, Buffer> {
  if (fontData) return fontData;
  const loaded = new Map<string, Buffer>();
  for (const [name, specifier] of Object.entries(FONT_FILES)) {
    let file: string;
    try {
      file = require.resolve(specifier);
    } catch (cause) {
      throw new Error(`PDF font ${specifier} is missing; run "npm install" (package @expo-google-fonts/noto-sans-sc).`, { cause });
    }
    loaded.set(name, fs.readFileSync(file));
  }
  fontData = loaded;
  return loaded;
}

/** Registers the embedded fonts of {@link PDF_FONTS} on `doc` (the standard fonts need no registration). */
export function registerPdfFonts(doc: PDFKit.PDFDocument): void {
  for (const [name, data] of loadFontData()) doc.registerFont(name, data);
}

export interface CreatePdfDocumentParameters {
  /** The document's language (the PDF `/Lang` entry, read by screen readers). */
  lang: PdfLanguage;
  info: { title: string; subject?: string; author?: string; creationDate?: Date };
  /** Page margins in points (default 40 on every side). */
  margins?: { top: number; bottom: number; left: number; right: number };
}

/**
 * A new A4 pdfkit document set up for streaming: pages are written out as soon as the next one
 * starts (`bufferPages: false`, so memory does not grow with the page count), the embedded fonts
 * are registered and {@link PDF_FONTS}.`text` is the current font.
 *
 * @example
 * const doc = createPdfDocument({ lang: 'zh-HK', info: { title: '收據 Receipt' } });
 * doc.font(PDF_FONTS.bold).fontSize(16).text('醫療收據 Medical receipt');
 */
export function createPdfDocument(params: CreatePdfDocumentParameters): PDFKit.PDFDocument {
  const doc = new PDFDocument({
    size: 'A4',
    margins: params.margins ?? { top: 40, bottom: 40, left: 40, right: 40 },
    bufferPages: false,
    autoFirstPage: true,
    lang: params.lang,
    displayTitle: true,
    info: {
      Title: params.info.title,
      Author: params.info.author ?? 'ClinicPay',
      Producer: 'ClinicPay',
      Creator: 'ClinicPay',
      ...(params.info.subject === undefined ? {} : { Subject: params.info.subject }),
      ...(params.info.creationDate === undefined ? {} : { CreationDate: params.info.creationDate }),
    },
  });
  registerPdfFonts(doc);
  doc.font(PDF_FONTS.text);
  return doc;
}

/** A text in each language it is written in. */
export type Message<L extends PdfLanguage> = Readonly<Record<L, string>>;

/**
 * `message` in each of `languages`, in that order, with `{name}` placeholders filled from
 * `params` (a placeholder without a value is left as it is, so a missing one shows).
 *
 * @example
 * localize({ en: 'Page {n}', 'zh-HK': '第 {n} 頁' }, ['zh-HK', 'en'], { n: 3 }) // ['第 3 頁', 'Page 3']
 */
export function localize<L extends PdfLanguage>(
  message: Message<L> & Partial<Message<PdfLanguage>>,
  languages: readonly L[],
  params: Readonly<Record<string, string | number>> = {},
): string[] {
  return languages.map((language) =>
    message[language].replace(/\{([a-z_]+)\}/g, (whole, name: string) => (Object.hasOwn(params, name) ? String(params[name]) : whole)),
  );
}

/** A4 in points, the page of every ClinicPay PDF. */
export const A4 = { width: 595.28, height: 841.89 } as const;

/** The colours statements and receipts share: text, secondary text, rules and shaded rows. */
export const PDF_COLORS: Readonly<Record<'ink' | 'muted' | 'rule' | 'shade', string>> = { ink: '#111827', muted: '#6b7280', rule: '#d1d5db', shade: '#f3f4f6' };

/** A font, a size and a colour (the palette's ink unless given). */
export interface TextStyle {
  font: PdfFontName;
  size: number;
  color?: string;
}

/** Makes `style` the document's current font, size and colour. */
export function useTextStyle(doc: PDFKit.PDFDocument, style: TextStyle): void {
  doc
    .font(style.font)
    .fontSize(style.size)
    .fillColor(style.color ?? PDF_COLORS.ink);
}

/** `text` cut with an ellipsis to fit `width` in the document's current font. */
export function fitText(doc: PDFKit.PDFDocument, text: string, width: number): string {
  if (doc.widthOfString(text) <= width) return text;
  let low = 0;
  let high = text.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (doc.widthOfString(`${text.slice(0, mid)}…`) <= width) low = mid;
    else high = mid - 1;
  }
  return `${text.slice(0, low)}…`;
}
