import { Option } from 'commander';

/** `--data-dir`: the SQLite store there, whatever DATABASE_URL says; with `--database-url` it names two stores. */
export function dataDirOption(): Option {
  return new Option('--data-dir <dir>', 'SQLite data dir (default: VOUCHSAFE_DATA_DIR or ./data)').conflicts(
    'databaseUrl',
  );
}
