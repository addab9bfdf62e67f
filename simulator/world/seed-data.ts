import { makeEnterpriseNumber, makeWorkerNumber } from '../../shared/identifiers/make.ts';
import type { Capacity } from '../../shared/registration.ts';

/**
 * The demo world: two cleaning sites, five companies, six workers and their badges, three terminals.
 * It shows each situation the FAQ describes for a terminal: a worker with two employers on one declaration
 * (Luc: employed by Net & Clean, and placed by Interim Plus; he chooses on the terminal, FAQ 5), an agency
 * worker under the agency's number, a self-employed cleaner under their own number, a posted worker of a
 * foreign company with a BIS number, and a contract taken over by another company (a new declaration from
 * today on, FAQ 5). Every number has correct check digits and is built here, not copied from anyone.
 * Scenarios refer to workers, badges and terminals by their `key`.
 */
export interface SeedCompany {
  key: string;
  number: string;
  name: string;
}
export interface SeedSite {
  key: string;
  name: string;
  language: 'fr' | 'nl' | 'de' | 'en';
  address: { postCode: string; municipalityName: string; streetName: string; houseNumber: string; boxNumber?: string };
  coordinates?: { latitude: number; longitude: number };
}
export interface SeedDeclaration {
  key: string;
  number: string;
  site: string;
  companies: string[];
  /** Days relative to the demo day (0 = the demo day); open-ended when absent. */
  fromDay: number;
  toDay?: number;
}
export interface SeedWorker {
  key: string;
  name: string;
  ssin?: string;
  limosaId?: string;
  capacity: Capacity;
  employers: string[];
  badge: string;
}
export interface SeedTerminal {
  key: string;
  site: string;
  label: string;
}

export const DEMO_COMPANIES: SeedCompany[] = [
  { key: 'netclean', number: makeEnterpriseNumber('04030192'), name: 'Net & Clean' },
  { key: 'brillant', number: makeEnterpriseNumber('04287594'), name: 'Brillant' },
  { key: 'interim', number: makeEnterpriseNumber('04123456'), name: 'Interim Plus' },
  { key: 'zelf', number: makeEnterpriseNumber('10012345'), name: 'Marc Janssens (self-employed)' },
  { key: 'propre', number: 'FR40123456789', name: 'Propreté du Nord SARL' },
];

export const DEMO_SITES: SeedSite[] = [
  {
    key: 'site-a',
    name: 'Résidence Les Tilleuls',
    language: 'fr',
    address: { postCode: '1000', municipalityName: 'Bruxelles', streetName: 'Rue des Tilleuls', houseNumber: '14' },
  },
  {
    key: 'site-b',
    name: 'Kantoor Meir',
    language: 'nl',
    address: { postCode: '2000', municipalityName: 'Antwerpen', streetName: 'Meir', houseNumber: '50', boxNumber: '3' },
    coordinates: { latitude: 51.2182, longitude: 4.4086 },
  },
];

export const DEMO_DECLARATIONS: SeedDeclaration[] = [
  { key: 'tilleuls', number: '1Y102M7NZF7PZ', site: 'site-a', companies: ['netclean', 'interim', 'zelf', 'propre'], fromDay: -60 },
  // Site B's cleaning contract was held by Brillant until yesterday and taken over by Net & Clean today.
  { key: 'meir-old', number: '7KQ2W9XH4MB3C', site: 'site-b', companies: ['brillant'], fromDay: -90, toDay: -1 },
  { key: 'meir-new', number: '3PZ8D5RT6JW2A', site: 'site-b', companies: ['netclean'], fromDay: 0 },
];

export const DEMO_WORKERS: SeedWorker[] = [
  { key: 'ana', name: 'Ana Peeters', ssin: makeWorkerNumber({ year: 1985, month: 7, day: 30 }, 33), capacity: 'employee', employers: ['netclean'], badge: '04A1B2C3D4E5F6' },
  { key: 'luc', name: 'Luc Dubois', ssin: makeWorkerNumber({ year: 1979, month: 11, day: 2 }, 118), capacity: 'employee', employers: ['netclean', 'interim'], badge: '04B7C8D9E0F1A2' },
  { key: 'sofia', name: 'Sofia Rossi', ssin: makeWorkerNumber({ year: 2001, month: 4, day: 17 }, 264), capacity: 'agency-worker', employers: ['interim'], badge: '04C3D4E5F6A7B8' },
  { key: 'marc', name: 'Marc Janssens', ssin: makeWorkerNumber({ year: 1970, month: 1, day: 9 }, 57), capacity: 'self-employed', employers: ['zelf'], badge: '04D5E6F7A8B9C0' },
  { key: 'piotr', name: 'Piotr Nowak', ssin: makeWorkerNumber({ year: 1990, month: 3, day: 12 }, 101, 'bis'), capacity: 'posted-worker', employers: ['propre'], badge: 'A1B2C3D4' },
  { key: 'emma', name: 'Emma Claes', ssin: makeWorkerNumber({ year: 1996, month: 9, day: 21 }, 342), capacity: 'team-leader', employers: ['brillant'], badge: '04E7F8A9B0C1D2' },
];

/** A badge that is enrolled nowhere: the terminal sends its taps so the site manager sees them. */
export const DEMO_UNKNOWN_BADGE = '04FFEEDDCCBBAA';

export const DEMO_TERMINALS: SeedTerminal[] = [
  { key: 'a-entrance', site: 'site-a', label: 'Tilleuls — entrée' },
  { key: 'a-back', site: 'site-a', label: 'Tilleuls — arrière' },
  { key: 'b-lobby', site: 'site-b', label: 'Meir — lobby' },
];
