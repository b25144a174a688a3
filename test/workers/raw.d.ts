// Vite's `?raw` imports (the README, read by the MCP test).
declare module "*?raw" {
  const text: string;
  export default text;
}
