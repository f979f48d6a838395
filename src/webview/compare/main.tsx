// Compare panel entry: connect to the host, ask for the comparison, render its updates.
import { render } from 'preact';
import { CompareProtocol } from '../../shared/compareProtocol';
import { RpcClient } from '../common/rpcClient';
import { CompareApp } from './compareApp';

const host = new RpcClient(CompareProtocol);
render(<CompareApp host={host} />, document.getElementById('compare')!);
