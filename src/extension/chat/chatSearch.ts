// Persona: Search Chats… — a quick pick over the workspace's conversations, searched as you type
// (conversationSearch.ts); a hit opens its chat in the view, scrolled to the message. Conversation
// text is untrusted here as everywhere: it reaches the quick pick through inertText.
import * as vscode from 'vscode';
import type { ChatService } from '../../chat/chatService';
import type { SearchHit } from '../../chat/conversationSearch';
import { inertText } from '../../util/inertText';
import type { ChatViewProvider } from './chatViewProvider';

const TYPING_PAUSE_MS = 150;

type HitItem = vscode.QuickPickItem & { hit: SearchHit };

export async function searchChats(chat: ChatService, view: ChatViewProvider, log: vscode.LogOutputChannel): Promise<void> {
  const picker = vscode.window.createQuickPick<HitItem>();
  picker.title = 'Search Chats';
  picker.placeholder = 'Words in a chat’s title or messages';
  // The search decides what matches: the quick pick must not filter the hits again by their labels.
  picker.matchOnDescription = false;
  picker.matchOnDetail = false;
  let timer: NodeJS.Timeout | undefined;
  let asked = 0;
  const search = (query: string) => {
    const n = ++asked;
    picker.busy = true;
    chat.searchConversations(query).then(
      (hits) => {
        if (n !== asked) return;
        picker.busy = false;
        picker.items = hits.map(toItem);
        picker.placeholder = query.trim() && hits.length === 0 ? 'No chat holds all of these words' : 'Words in a chat’s title or messages';
      },
      (e: Error) => {
        if (n !== asked) return;
        picker.busy = false;
        log.warn(`Search Chats: ${e.message}`);
      },
    );
  };
  const chosen = await new Promise<SearchHit | undefined>((resolve) => {
    picker.onDidChangeValue((value) => {
      clearTimeout(timer);
      timer = setTimeout(() => search(value), TYPING_PAUSE_MS);
    });
    picker.onDidAccept(() => {
      const item = picker.selectedItems[0];
      if (item) resolve(item.hit);
      picker.hide();
    });
    picker.onDidHide(() => resolve(undefined));
    picker.show();
  });
  clearTimeout(timer);
  picker.dispose();
  if (!chosen) return;
  await chat.selectConversation(chosen.conversationId);
  if (chosen.messageId) {
    // A hit on a branch that is not shown (or past a checkpoint) shows that branch first.
    await chat.showMessage(chosen.messageId);
    await view.reveal(chosen.conversationId, chosen.messageId);
  }
  else await view.focus();
}

function toItem(hit: SearchHit): HitItem {
  const when = new Date(hit.updatedAt).toLocaleDateString();
  if (!hit.messageId) return { hit, label: `$(comment-discussion) ${inertText(hit.title)}`, description: `title · ${when}`, alwaysShow: true };
  return {
    hit,
    label: `${hit.role === 'user' ? '$(account)' : '$(comment)'} ${inertText(hit.snippet)}`,
    description: `${inertText(hit.title)} · ${when}`,
    alwaysShow: true,
  };
}
