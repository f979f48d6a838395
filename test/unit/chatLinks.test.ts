// What the person is asked before a link from the chat opens: where it really goes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { linkToOpen } from '../../src/chat/chatLinks';
import { ActionError } from '../../src/util/actionError';

describe('links from the chat', () => {
  it('says the real host of a link that hides it behind user@', () => {
    const link = linkToOpen('https://github.com@evil.test/x');
    assert.equal(link.destination, 'evil.test');
    assert.equal(link.href, 'https://evil.test/x');
    assert.match(link.notes.join(' '), /"github\.com@" before the real host/);
    const withPassword = linkToOpen('https://paypal.com:secret@evil.test/');
    assert.equal(withPassword.destination, 'evil.test');
    assert.ok(!withPassword.href.includes('secret'));
  });

  it('shows an international host as the browser looks it up', () => {
    const link = linkToOpen('https://аpple.com/login');
    assert.equal(link.destination, 'xn--pple-43d.com');
    assert.match(link.notes.join(' '), /international letters/);
    assert.deepEqual(linkToOpen('https://example.com/a?b=c#d'), { href: 'https://example.com/a?b=c#d', destination: 'example.com', notes: [] });
  });

  it('keeps only the subject and body of a mailto', () => {
    const link = linkToOpen('mailto:ada@example.com?subject=Hi&body=Hello&bcc=spy@evil.test&attach=/etc/passwd');
    assert.equal(link.destination, 'ada@example.com');
    assert.equal(link.href, 'mailto:ada@example.com?subject=Hi&body=Hello');
    assert.match(link.notes.join(' '), /Left out of the email: bcc, attach/);
  });

  it('refuses other schemes and what is not a link', () => {
    for (const href of ['javascript:alert(1)', 'command:workbench.action.terminal.new', 'file:///etc/passwd', 'vscode://x', 'data:text/html,hi']) {
      assert.throws(() => linkToOpen(href), (e) => ActionError.is(e, 'refused'), href);
    }
    assert.throws(() => linkToOpen('not a link'), (e) => ActionError.is(e, 'refused'));
  });
});
