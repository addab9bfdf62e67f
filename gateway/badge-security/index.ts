/**
 * NTAG 424 DNA badges on the host side: AES-CMAC, AN10922 key diversification, SUN message verification,
 * EV2 secure messaging and the personalisation of blank badges. Everything but desk-reader.ts is pure.
 */
export * from './aes.ts';
export * from './apdu.ts';
export * from './card-client.ts';
export * from './cmac.ts';
export * from './diversify.ts';
export * from './file-settings.ts';
export * from './ndef.ts';
export * from './provision.ts';
export * from './secure-messaging.ts';
export * from './sun.ts';
