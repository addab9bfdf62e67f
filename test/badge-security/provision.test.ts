import { describe, expect, it } from 'vitest';
import type { CardTransport } from '../../gateway/badge-security/apdu.ts';
import { deriveBadgeKeys, type BadgeMasterKeys } from '../../gateway/badge-security/diversify.ts';
import { provisionBadge, ProvisioningError } from '../../gateway/badge-security/provision.ts';
import { verifySun } from '../../gateway/badge-security/sun.ts';
import { blankState, wrongKeysState } from '../../simulator/vcard/ntag424/card-state.ts';
import { VirtualNtag424 } from '../../simulator/vcard/ntag424/ntag424-card.ts';

/**
 * Personalisation of a blank badge by the gateway's host code, against the virtual NTAG 424 DNA in process
 * (the pcscd + vpcd path is in provision-pcsc.test.ts). The two sides share no code: what passes here is
 * the host and the card agreeing, each having passed NXP's examples on its own.
 */
const UID = '04A1B2C3D4E5F6';
const master: BadgeMasterKeys = {
  application: Buffer.from('6A1F0C52D3E4B59687A8B9CADBECFD0E', 'hex'),
  sdmMetaRead: Buffer.from('1F2E3D4C5B6A79880716253443526170', 'hex'),
  sdmFileRead: Buffer.from('A1B2C3D4E5F60718293A4B5C6D7E8F90', 'hex'),
};
const keysFor = (uid: Buffer) => deriveBadgeKeys(master, uid);

function direct(chip: VirtualNtag424): CardTransport & { apdus: number } {
  const t = {
    apdus: 0,
    async transmit(apdu: Buffer) {
      t.apdus += 1;
      return chip.respond(apdu);
    },
  };
  return t;
}

/** A card taken away from the reader after `cut` APDUs: later ones fail, and the chip loses its session. */
function cutAfter(chip: VirtualNtag424, cut: number): CardTransport {
  let sent = 0;
  return {
    async transmit(apdu: Buffer) {
      if (sent++ >= cut) {
        chip.reset();
        throw new Error('the badge was taken away');
      }
      return chip.respond(apdu);
    },
  };
}

/** What a terminal reads: the NDEF file, unauthenticated, then the two values after their parameter names. */
function tap(chip: VirtualNtag424): { picc: Buffer; mac: Buffer } {
  chip.reset();
  chip.respond(Buffer.from('00A4040C07D276000085010100', 'hex'));
  chip.respond(Buffer.from('00A4000C02E104', 'hex'));
  const url = chip.respond(Buffer.from('00B0000000', 'hex')).subarray(0, -2).toString('latin1');
  const picc = /picc_data=([0-9A-F]{32})/.exec(url)![1]!;
  const mac = /cmac=([0-9A-F]{16})/.exec(url)![1]!;
  return { picc: Buffer.from(picc, 'hex'), mac: Buffer.from(mac, 'hex') };
}

const verifierKeys = { metaReadKey: keysFor(Buffer.from(UID, 'hex'))[1], fileReadKey: (uid: Buffer) => keysFor(uid)[2] };

describe('provisionBadge against the virtual NTAG 424 DNA', () => {
  it('turns a blank badge into one whose every read verifies, with fresh counters, and changes no key twice', async () => {
    const chip = new VirtualNtag424({ state: blankState(UID) });
    const steps: string[] = [];
    const result = await provisionBadge(direct(chip), { keys: keysFor, onStep: (s) => steps.push(s) });
    expect(result).toMatchObject({ uid: UID, keysFound: ['factory', 'factory', 'factory', 'factory', 'factory'], keysChanged: [1, 2, 3, 4, 0], ndefWritten: true, fileSettingsChanged: true });
    expect(result.check).toEqual({ ok: true, uid: UID, counter: 1 });
    expect(chip.state.keys).toEqual(keysFor(Buffer.from(UID, 'hex')).map((k) => k.toString('hex').toUpperCase()));
    expect(chip.state.keyVersions).toEqual([1, 1, 1, 1, 1]);
    expect(steps.at(-1)).toMatch(/SUN message verified/);

    expect(verifySun(tap(chip), verifierKeys, UID)).toEqual({ ok: true, uid: UID, counter: 2 });
    expect(verifySun(tap(chip), verifierKeys, UID)).toEqual({ ok: true, uid: UID, counter: 3 });

    const again = await provisionBadge(direct(chip), { keys: keysFor });
    expect(again).toMatchObject({ keysFound: ['ours', 'ours', 'ours', 'ours', 'ours'], keysChanged: [], ndefWritten: false, fileSettingsChanged: false });
    expect(again.check).toMatchObject({ ok: true, counter: 4 });
  });

  it('finishes a badge taken away after any APDU of the run, when it is presented again', async () => {
    const reference = new VirtualNtag424({ state: blankState(UID) });
    const full = direct(reference);
    await provisionBadge(full, { keys: keysFor });
    expect(full.apdus).toBeGreaterThan(20);
    for (let cut = 1; cut < full.apdus; cut++) {
      const chip = new VirtualNtag424({ state: blankState(UID) });
      await expect(provisionBadge(cutAfter(chip, cut), { keys: keysFor }), `cut after ${cut}`).rejects.toThrow();
      chip.reset();
      const retry = await provisionBadge(direct(chip), { keys: keysFor });
      expect(retry.check.ok, `cut after ${cut}`).toBe(true);
      expect(chip.state.keys, `cut after ${cut}`).toEqual(reference.state.keys);
      expect(verifySun(tap(chip), verifierKeys, UID).ok, `cut after ${cut}`).toBe(true);
    }
  });

  it('the retry after a cut right after the first key change changes only the keys still at the factory value', async () => {
    const chip = new VirtualNtag424({ state: blankState(UID) });
    let changeKeys = 0;
    let removed = false;
    const transport: CardTransport = {
      async transmit(apdu) {
        if (removed) throw new Error('the badge was taken away');
        const answer = chip.respond(apdu);
        if (apdu[0] === 0x90 && apdu[1] === 0xc4 && ++changeKeys === 1) {
          removed = true;
          chip.reset();
        }
        return answer;
      },
    };
    await expect(provisionBadge(transport, { keys: keysFor })).rejects.toThrow(/taken away/);
    const retry = await provisionBadge(direct(chip), { keys: keysFor });
    expect(retry.keysFound).toEqual(['factory', 'ours', 'factory', 'factory', 'factory']);
    expect(retry.keysChanged).toEqual([2, 3, 4, 0]);
  });

  it('leaves a badge personalised by someone else untouched and says so', async () => {
    const state = wrongKeysState(UID);
    const before = JSON.stringify(state);
    const chip = new VirtualNtag424({ state });
    await expect(provisionBadge(direct(chip), { keys: keysFor })).rejects.toThrow(ProvisioningError);
    await expect(provisionBadge(direct(chip), { keys: keysFor })).rejects.toThrow(/key 0 .* personalised elsewhere; nothing was changed/);
    expect(JSON.stringify(state)).toBe(before);
  });

  it('a SUN message of another badge, or of a copy with other keys, does not verify as this badge', async () => {
    const other = new VirtualNtag424({ state: blankState('04A1B2C3D4E5F7') });
    await provisionBadge(direct(other), { keys: keysFor });
    expect(verifySun(tap(other), verifierKeys, UID)).toMatchObject({ ok: false, why: 'uid-mismatch', uid: '04A1B2C3D4E5F7' });
    const foreign = new VirtualNtag424({ state: wrongKeysState(UID) });
    expect(verifySun(tap(foreign), verifierKeys, UID)).toMatchObject({ ok: false, why: 'undecryptable' });
  });
});
