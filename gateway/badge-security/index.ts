/**
 * NTAG 424 DNA badges on the host side: AES-CMAC, AN10922 key diversification, SUN message verification,
 * EV2 secure messaging and the personalisation of blank badges are pure; key-ring.ts reads and writes the
 * master key file, desk-reader.ts talks to pcscd, enrol.ts personalises a badge on a desk reader and enrols it.
 */
export * from './aes.ts';
export * from './apdu.ts';
export * from './card-client.ts';
export * from './cmac.ts';
export * from './diversify.ts';
export * from './file-settings.ts';
export * from './key-ring.ts';
export * from './ndef.ts';
export * from './provision.ts';
export * from './secure-messaging.ts';
export * from './sun.ts';
export * from './sun-verifier.ts';
