// The Character Builder's connection to its host: the common client over the builder protocol.
import { BuilderProtocol, type BuilderNotifications, type BuilderRequests } from '../../shared/builderProtocol';
import { RpcClient } from '../common/rpcClient';

export type BuilderHost = RpcClient<typeof BuilderRequests, typeof BuilderNotifications>;

export function connectBuilderHost(): BuilderHost {
  return new RpcClient(BuilderProtocol);
}
