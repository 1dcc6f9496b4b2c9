/*
** commands.h — one entry point per subcommand of the sqlassist CLI.
**
** main.c only dispatches on argv[1]; each cmd_* parses its own flags (see
** cli_args.h), prints `--help`, and returns the process exit status.
*/
#ifndef SA_COMMANDS_H
#define SA_COMMANDS_H

int cmd_generate(int argc, char **argv);   /* cmd_generate.c */
int cmd_tokenize(int argc, char **argv);   /* cmd_tokenize.c */
int cmd_logits(int argc, char **argv);     /* cmd_generate.c */
int cmd_ask(int argc, char **argv);        /* cmd_ask.c */
int cmd_quantize(int argc, char **argv);   /* cmd_quantize.c */
int cmd_bench(int argc, char **argv);       /* cmd_bench.c */
int cmd_bench_model(int argc, char **argv); /* cmd_bench_model.c */
int cmd_sql(int argc, char **argv);        /* cmd_sql.c */
int cmd_schema(int argc, char **argv);     /* cmd_sql.c */
int cmd_serve(int argc, char **argv);      /* cmd_serve.c */
int cmd_train(int argc, char **argv);      /* cmd_train.c */
int cmd_train_tokenizer(int argc, char **argv); /* cmd_train_tokenizer.c */

#endif
