import { describe, expect, it } from 'vitest';
import { ACK_TEXTS } from '../../gateway/ingest/display.ts';
import { LANGUAGES } from '../../shared/mqtt/payloads.ts';
import { DIRECTION_KEYS, FLAG_KEYS, MESSAGES, toLcdAscii } from '../../terminal/core/messages.ts';
import { LCD_COLUMNS } from '../../terminal/core/ports.ts';

/**
 * Every text the 16x2 LCD can show, in every language, fits its line as it is composed: a text cut short
 * ("Enregistre - a v") tells a worker nothing. The terminal's own texts and the gateway's ack texts.
 */
const TIME = '07:02';
const besideTime = LCD_COLUMNS - TIME.length - 1;

describe('LCD texts', () => {
  it('gives every language every text, and the LCD ROM can draw them', () => {
    for (const language of LANGUAGES) {
      expect(Object.keys(MESSAGES[language]).sort(), language).toEqual(Object.keys(MESSAGES.en).sort());
      // Folding accents must not leave characters the ROM lacks (they would show as '?').
      for (const [key, text] of Object.entries(MESSAGES[language])) expect(toLcdAscii(text).split('?').length, `${language}.${key}`).toBe(text.split('?').length);
    }
  });

  it('fits every terminal text on one 16-character line', () => {
    const tooLong = LANGUAGES.flatMap((language) => Object.entries(MESSAGES[language]).filter(([, text]) => text.length > LCD_COLUMNS).map(([key, text]) => `${language}.${key} "${text}"`));
    expect(tooLong).toEqual([]);
  });

  it('fits the texts that share a line: direction and status flag beside the time, the employer prompt with its paging hint', () => {
    const tooLong: string[] = [];
    for (const language of LANGUAGES) {
      const m = MESSAGES[language];
      for (const key of [...DIRECTION_KEYS, ...FLAG_KEYS]) if (m[key].length > besideTime) tooLong.push(`${language}.${key} "${m[key]} ${TIME}"`);
      const prompt = `${m.chooseEmployer} >${m.more}`;
      if (prompt.length > LCD_COLUMNS) tooLong.push(`${language} "${prompt}"`);
    }
    expect(tooLong).toEqual([]);
  });

  it('fits every ack text of the gateway on the line it replaces, in ASCII', () => {
    const tooLong: string[] = [];
    for (const [kind, texts] of Object.entries(ACK_TEXTS)) {
      for (const language of LANGUAGES) {
        const text = texts[language];
        expect(text, `${kind}.${language}`).toMatch(/^[\x20-\x7e]+$/);
        if (text.length > LCD_COLUMNS) tooLong.push(`${kind}.${language} "${text}"`);
      }
    }
    expect(tooLong).toEqual([]);
  });
});
