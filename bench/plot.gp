# Charts of bench/results/latest.json, drawn by bench/run.sh:
#   gnuplot -e "dat='FILE.dat'; outdir='DIR'" bench/plot.gp
# FILE.dat comes from `dt-bench --dat latest.json`: block 0 = each ratio
# row (key, ratio, target limit, met), block 1 = each ms row with a
# baseline (key, median, baseline median).
if (!exists("dat")) dat = 'bench/results/latest.dat'
if (!exists("outdir")) outdir = 'bench/results'

set terminal pngcairo size 1200,620 font "DejaVu Sans,10"
set datafile separator whitespace
set style fill solid 0.85 border -1
set boxwidth 0.6
set grid ytics
set xtics rotate by 40 right noenhanced
set key top right noenhanced
set logscale y

set output outdir.'/ratios.png'
set title "daytona-emu / libdaytona against their baselines (ratio, log scale; markers = target)"
set ylabel "ratio to the baseline (median, or p99 where the target says so)"
plot dat index 0 using 0:($4 == 1 ? $2 : 1/0):xtic(1) with boxes lc rgb "#2e7d32" title "target met", \
     dat index 0 using 0:($4 == 0 ? $2 : 1/0) with boxes lc rgb "#c62828" title "target missed", \
     dat index 0 using 0:3 with points pt 9 ps 2 lc rgb "#000000" title "target limit"

set output outdir.'/latency.png'
set title "Median latency (ms, log scale): measured vs its baseline in the same run"
set ylabel "milliseconds"
set style data histograms
set style histogram clustered gap 1
set boxwidth 0.9 relative
plot dat index 1 using 2:xtic(1) lc rgb "#1565c0" title "daytona-emu / libdaytona", \
     dat index 1 using 3 lc rgb "#9e9e9e" title "baseline"
