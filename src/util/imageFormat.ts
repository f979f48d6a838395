// What kind of picture bytes are, from their first bytes (never from a file name).

export type ImageFormat = 'png' | 'jpg' | 'gif' | 'webp';

/** The picture's format, or undefined when it is none of those a webview shows safely. */
export function imageFormat(bytes: Uint8Array): ImageFormat | undefined {
  const at = (i: number, ...v: number[]) => bytes.length >= i + v.length && v.every((b, k) => bytes[i + k] === b);
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (at(0, 0xff, 0xd8, 0xff)) return 'jpg';
  if (at(0, 0x47, 0x49, 0x46, 0x38)) return 'gif';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'webp';
  return undefined;
}
