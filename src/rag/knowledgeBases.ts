// The names of the knowledge bases a workspace's memory holds: one shared by every persona, and one
// per persona that only its chats retrieve from.

/** The knowledge base every persona of the workspace shares. */
export const WORKSPACE_KB = 'workspace';

/** The team's knowledge base on object storage (sharedMemory.ts), when one is set up. */
export const SHARED_KB = 'shared';

const PERSONA_KB_PREFIX = 'persona:';

/** The knowledge base of one persona: only its chats retrieve from it. */
export function personaKb(personaId: string): string {
  return `${PERSONA_KB_PREFIX}${personaId}`;
}

/** The persona whose own knowledge base `kb` is, or undefined for the shared one. */
export function personaOfKb(kb: string): string | undefined {
  return kb.startsWith(PERSONA_KB_PREFIX) ? kb.slice(PERSONA_KB_PREFIX.length) : undefined;
}

/** What one persona's chats draw on: the shared memory and its own. */
export function kbsInScope(personaId: string | undefined): string[] {
  return personaId === undefined ? [WORKSPACE_KB] : [WORKSPACE_KB, personaKb(personaId)];
}
