import type { Language } from '../../shared/mqtt/payloads.ts';
import { LCD_COLUMNS } from './ports.ts';

/**
 * What the LCD says, in the site's language. Every text fits one 16-character line, and texts that share a
 * line fit together (test/terminal/lcd-texts.test.ts checks every language): a direction label or a status
 * flag shares its line with the time (`HH:MM`, so at most 10 characters), `chooseEmployer` shares its line
 * with ` >` and `more`. Adapters that cannot draw accents fold them (see `toLcdAscii`).
 */
export type MessageKey =
  | 'ready'
  | 'in'
  | 'out'
  | 'breakStart'
  | 'breakEnd'
  | 'unknownBadge'
  | 'unknownHint'
  | 'alreadyRegistered'
  | 'chooseEmployer'
  | 'noChoice'
  | 'offline'
  | 'clockWrong'
  | 'noReader'
  | 'noSiteConfig'
  | 'storageError'
  | 'useQrCode'
  | 'armedIn'
  | 'armedOut'
  | 'armedBreak'
  | 'more'
  | 'misread'
  | 'tapAgain';

export const MESSAGES: Record<Language, Record<MessageKey, string>> = {
  fr: {
    ready: 'Presentez badge',
    in: 'ENTREE',
    out: 'SORTIE',
    breakStart: 'PAUSE',
    breakEnd: 'FIN PAUSE',
    unknownBadge: 'Badge inconnu',
    unknownHint: 'Voir responsable',
    alreadyRegistered: 'Deja enregistre',
    chooseEmployer: 'Employeur?',
    noChoice: 'Sans employeur',
    offline: 'hors ligne',
    clockWrong: 'horloge!',
    noReader: 'Lecteur absent',
    noSiteConfig: 'Non configure',
    storageError: 'Erreur memoire',
    useQrCode: 'Scannez QR CIaO',
    armedIn: 'Entree: badge',
    armedOut: 'Sortie: badge',
    armedBreak: 'Pause: badge',
    more: 'plus',
    misread: 'Badge mal lu',
    tapAgain: 'Representez-le',
  },
  nl: {
    ready: 'Badge aanbieden',
    in: 'IN',
    out: 'UIT',
    breakStart: 'PAUZE',
    breakEnd: 'EIND PAUZE',
    unknownBadge: 'Onbekende badge',
    unknownHint: 'Zie verantw.',
    alreadyRegistered: 'Al geregistreerd',
    chooseEmployer: 'Werkgever?',
    noChoice: 'Geen werkgever',
    offline: 'offline',
    clockWrong: 'klok fout',
    noReader: 'Geen badgelezer',
    noSiteConfig: 'Niet ingesteld',
    storageError: 'Geheugenfout',
    useQrCode: 'Scan CIaO QR',
    armedIn: 'In: badge',
    armedOut: 'Uit: badge',
    armedBreak: 'Pauze: badge',
    more: 'meer',
    misread: 'Niet gelezen',
    tapAgain: 'Badge opnieuw',
  },
  de: {
    ready: 'Badge vorhalten',
    in: 'KOMMEN',
    out: 'GEHEN',
    breakStart: 'PAUSE',
    breakEnd: 'PAUSENENDE',
    unknownBadge: 'Badge unbekannt',
    unknownHint: 'Leitung fragen',
    alreadyRegistered: 'Schon erfasst',
    chooseEmployer: 'Firma?',
    noChoice: 'Ohne Arbeitgeber',
    offline: 'offline',
    clockWrong: 'Uhr falsch',
    noReader: 'Kein Leser',
    noSiteConfig: 'Kein Standort',
    storageError: 'Speicherfehler',
    useQrCode: 'CIaO-QR scannen',
    armedIn: 'Kommen: Badge',
    armedOut: 'Gehen: Badge',
    armedBreak: 'Pause: Badge',
    more: 'mehr',
    misread: 'Nicht gelesen',
    tapAgain: 'Badge nochmals',
  },
  en: {
    ready: 'Present badge',
    in: 'IN',
    out: 'OUT',
    breakStart: 'BREAK',
    breakEnd: 'BREAK END',
    unknownBadge: 'Unknown badge',
    unknownHint: 'See manager',
    alreadyRegistered: 'Already recorded',
    chooseEmployer: 'Employer?',
    noChoice: 'No employer',
    offline: 'offline',
    clockWrong: 'clock off!',
    noReader: 'No badge reader',
    noSiteConfig: 'Not configured',
    storageError: 'Storage error',
    useQrCode: 'Use CIaO QR code',
    armedIn: 'IN: badge now',
    armedOut: 'OUT: badge now',
    armedBreak: 'BREAK: badge now',
    more: 'more',
    misread: 'Badge not read',
    tapAgain: 'Tap again',
  },
};

/** Status flags share the idle screen's second line with the time: at most 10 characters. */
export const FLAG_KEYS = ['offline', 'clockWrong'] as const satisfies readonly MessageKey[];

/**
 * FAQ 31: when the terminal cannot register, line 1 says why (one of these) and line 2 sends the worker to the
 * fallback every site has, the declaration's CIaO QR code (`useQrCode`).
 */
export const CANNOT_REGISTER_KEYS = { 'outbox-unwritable': 'storageError', 'no-site-config': 'noSiteConfig', 'no-reader': 'noReader' } as const satisfies Record<string, MessageKey>;

/** Direction labels share a tap's second line with its time: at most 10 characters. */
export const DIRECTION_KEYS = ['in', 'out', 'breakStart', 'breakEnd'] as const satisfies readonly MessageKey[];

export function message(language: Language, key: MessageKey): string {
  return MESSAGES[language][key];
}

/** Cuts or pads text to one LCD line. */
export function fitLine(text: string, width = LCD_COLUMNS): string {
  return text.length > width ? text.slice(0, width) : text;
}

/** Text with its right part aligned to the end of the line: `IN          07:15`. */
export function spread(left: string, right: string, width = LCD_COLUMNS): string {
  const room = width - right.length - 1;
  if (room <= 0) return fitLine(right, width);
  const l = left.length > room ? left.slice(0, room) : left;
  return l + ' '.repeat(width - l.length - right.length) + right;
}

/** HD44780 character ROMs have no accents: fold them to ASCII. */
export function toLcdAscii(text: string): string {
  return text.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^\x20-\x7e]/g, '?');
}
