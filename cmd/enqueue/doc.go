// Command enqueue plans a job (splits input files into chunk tasks on Redis),
// and with -wait follows it to the end. Without Redis it runs the whole job
// embedded, with in-process workers.
//
//	enqueue -sim -in corpus.jsonl                      # embedded, simulator, Parquet in ./out
//	enqueue -in 'data/*.jsonl.gz' -sink postgres -table docs -wait
package main
