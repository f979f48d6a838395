// The chat view's connection to its host: the common client over the chat protocol.
import { ChatProtocol, type Notifications, type Requests } from '../../shared/chatProtocol';
import { RpcClient } from '../common/rpcClient';

export type ChatHost = RpcClient<typeof Requests, typeof Notifications>;

export function connectChatHost(): ChatHost {
  return new RpcClient(ChatProtocol);
}
