// Memory panel entry: connect to the host, ask for what the persona draws on, render its updates.
import { render } from 'preact';
import { MemoryPanelProtocol } from '../../shared/memoryPanelProtocol';
import { RpcClient } from '../common/rpcClient';
import { MemoryApp } from './memoryApp';

const host = new RpcClient(MemoryPanelProtocol);
render(<MemoryApp host={host} />, document.getElementById('memory')!);
