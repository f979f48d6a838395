// Files dropped on the view (from the Explorer, or the OS with Shift held, as VS Code asks): their
// URIs, or their bytes when the browser has no path for them. The host decides what each one is
// (a character card to import, or a file for memory) and checks it.
import { MAX_DROPPED_FILE_BYTES, MAX_DROPPED_FILES } from '../../shared/chatProtocol';

const URI_TYPES = ['application/vnd.code.uri-list', 'text/uri-list'];

export function carriesFiles(dt: DataTransfer | null): boolean {
  return !!dt && [...dt.types].some((t) => t === 'Files' || URI_TYPES.includes(t));
}

export interface Dropped {
  uris: string[];
  files: { name: string; data: string }[];
}

export async function readDrop(dt: DataTransfer): Promise<Dropped> {
  const list = URI_TYPES.map((t) => dt.getData(t)).find((v) => v.trim().length > 0) ?? '';
  const uris = list
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .slice(0, 100);
  const files: Dropped['files'] = [];
  if (uris.length === 0) {
    const picked = [...dt.files];
    if (picked.length > MAX_DROPPED_FILES) throw new Error(`Drop at most ${MAX_DROPPED_FILES} files at once.`);
    for (const f of picked) {
      if (f.size > MAX_DROPPED_FILE_BYTES) throw new Error(`${f.name} is larger than ${MAX_DROPPED_FILE_BYTES / 1024 / 1024} MB.`);
      files.push({ name: f.name, data: toBase64(new Uint8Array(await f.arrayBuffer())) });
    }
  }
  return { uris, files };
}

function toBase64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
