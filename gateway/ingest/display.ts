import type { Language } from '../../shared/mqtt/payloads.ts';

/** Short ack texts for the terminal's LCD (16 characters a line), in the site's language. */
const TEXTS: Record<'stored' | 'review' | 'rejected' | 'enrol', Record<Language, string>> = {
  stored: { fr: 'Enregistre', nl: 'Geregistreerd', de: 'Registriert', en: 'Registered' },
  review: { fr: 'Enregistre - a verifier', nl: 'Opgeslagen - na te kijken', de: 'Gespeichert - pruefen', en: 'Stored - to review' },
  rejected: { fr: 'Refuse', nl: 'Geweigerd', de: 'Abgelehnt', en: 'Rejected' },
  /** An unknown badge tapped while the terminal is in enrolment mode: the site manager enrols it now. */
  enrol: { fr: 'Badge a enroler', nl: 'In te schrijven', de: 'Badge erfassen', en: 'Badge to enrol' },
};

export function ackDisplay(language: Language, kind: keyof typeof TEXTS): string {
  return TEXTS[kind][language];
}
