// The window's entry point: one store, started once, rendered into #root.

import { render } from "preact";
import { App } from "./App";
import { StoreContext } from "./components/common";
import { Store } from "./store";
import "../styles.css";

const store = new Store();
render(
  <StoreContext.Provider value={store}>
    <App />
  </StoreContext.Provider>,
  document.getElementById("root") as HTMLElement,
);
void store.start();
window.addEventListener("focus", () => {
  void store.loadAccounts();
  void store.loadStatus();
  void store.loadApps();
});
