// The layers of docs/architecture.md, as lint rules: each folder lists the folders it must not
// import from. A relative import is matched by the folder it names, at any depth
// ('../hub/x.js', '../../hub/x.js'). test/lint-layers.test.ts proves a wrong import is caught.

/** Folders of the project, and those each may not import. */
export const LAYERS = {
  kernel: ['hub', 'devices', 'drivers', 'simulators', 'config', 'bench', 'test'],
  drivers: ['hub', 'devices', 'simulators', 'config', 'bench', 'test'],
  config: ['hub', 'devices', 'drivers', 'simulators', 'kernel', 'bench', 'test'],
  devices: ['hub', 'simulators', 'bench', 'test'],
  simulators: ['hub', 'devices', 'bench', 'test'],
  hub: ['simulators', 'bench', 'test'],
};

const WHY = {
  kernel: 'kernel/ imports nothing of the project',
  drivers: 'drivers/ translate: they import only kernel/ (declare what you need of the hub as an interface here)',
  config: 'config/ is the schema and the facility: it imports no runtime',
  devices: 'devices/ decide: they get the hub through devices/seam.ts, never hub/ itself',
  simulators: 'simulators/ are devices outside the hub: they speak the contract, not hub/ internals',
  hub: 'only the CLI and the demo (hub/cli.ts, hub/demo/) start simulators',
};

const rule = (folder) => [
  'error',
  {
    patterns: [
      {
        regex: `^(\\.\\./)+(${LAYERS[folder].join('|')})/`,
        message: `${WHY[folder]} (docs/architecture.md).`,
      },
    ],
  },
];

/** Flat-config blocks: one per folder. */
export const layerConfigs = Object.keys(LAYERS).map((folder) => ({
  files: [`${folder}/**/*.ts`],
  ...(folder === 'hub' ? { ignores: ['hub/cli.ts', 'hub/demo/**'] } : {}),
  rules: { 'no-restricted-imports': rule(folder) },
}));
