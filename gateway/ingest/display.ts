import type { Language } from '../../shared/mqtt/payloads.ts';

/**
 * Short ack texts for the terminal's LCD, in the site's language: the terminal shows one as the whole second
 * line, so each fits its 16 characters (test/terminal/lcd-texts.test.ts checks every language). ASCII only:
 * the LCD's character ROM has no accents.
 */
export const ACK_TEXTS: Record<'stored' | 'review' | 'rejected' | 'enrol', Record<Language, string>> = {
  stored: { fr: 'Enregistre', nl: 'Geregistreerd', de: 'Registriert', en: 'Registered' },
  review: { fr: 'Recu, a verifier', nl: 'Bewaard, nazien', de: 'Erfasst, pruefen', en: 'Stored, to check' },
  rejected: { fr: 'Refuse', nl: 'Geweigerd', de: 'Abgelehnt', en: 'Rejected' },
  /** An unknown badge tapped while the terminal is in enrolment mode: the site manager enrols it now. */
  enrol: { fr: 'Badge a enroler', nl: 'In te schrijven', de: 'Badge erfassen', en: 'Badge to enrol' },
};

export function ackDisplay(language: Language, kind: keyof typeof ACK_TEXTS): string {
  return ACK_TEXTS[kind][language];
}
