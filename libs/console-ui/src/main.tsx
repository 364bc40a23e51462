import { render } from 'preact';
import { ConsoleApi } from './api.ts';
import { App } from './app.tsx';

const root = document.getElementById('app');
if (root !== null) {
  root.textContent = '';
  render(<App api={new ConsoleApi(window.sessionStorage)} />, root);
}
