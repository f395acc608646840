// The speaker's public face: the single-writer BGP speaker (peers + RIB on one serial queue),
// its configuration and view types. RFC 4271, 4724, 4456, 2918, 4486 (see speaker.ts).
export { Speaker } from './speaker';
export type { OriginateOptions, StopOptions } from './speaker';
export * from './types';
export { classifyPeerChange, exportProfile, importRule, sessionConfig, validatePeerConfig, validateSpeakerConfig } from './config';
export type { PeerChange } from './config';
