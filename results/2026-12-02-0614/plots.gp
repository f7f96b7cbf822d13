# Renders the plots of report.md from the .dat files beside it: gnuplot plots.gp
set datafile missing '?'
set grid ytics
set key top left
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]

