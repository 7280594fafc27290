"""Word lists: the knowledge that n-gram statistics lack on one- and two-word prompts.

`FUNCTION_WORDS` are the short words that give a sentence's language away; `PROMPT_WORDS` is a
small table of things people put in video prompts, one concept a row, in the six Latin-script
languages plus Chinese (the tiny translator trains its vocabularies on it). `JAPANESE_ONLY_KANJI`
and `JAPANESE_KANJI_WORDS` tell a kana-less Japanese prompt ("花火", "桜") from Chinese.
"""

from __future__ import annotations

import re
from functools import cache

LATIN_LANGUAGES = ("en", "fr", "de", "es", "it", "pt")

FUNCTION_WORDS: dict[str, str] = {
    "en": "the a an of in on at with and or to from by over under into onto through across along around near"
    " behind above below between is are was were be his her its their this that these those while as it he"
    " she they who which very",
    "fr": "le la les l un une des du de d au aux et ou à dans sur sous avec sans par pour entre vers qui que est"
    " sont son sa ses leur leurs ce cette ces il elle ils elles se s en très près devant derrière",
    "de": "der die das den dem des ein eine einer einem einen und oder im in am an auf aus mit von vom zum zur bei"
    " durch über unter vor hinter neben zwischen ist sind sein seine ihr ihre sich es er sie wie sehr nach"
    " beim ins",
    "es": "el la los las lo un una unos unas del de y o en con sin sobre bajo por para al entre hacia que es son"
    " su sus se muy como desde tras",
    "it": "il lo la i gli le l un uno una del dello della dei degli delle di d e o in nel nello nella nei negli"
    " nelle con su sul sullo sulla sui sugli sulle per tra fra da dal dalla dai che è sono si suo sua suoi"
    " molto come",
    "pt": "o a os as um uma uns umas do da dos das de e ou em no na nos nas com sem sobre sob por pelo pela"
    " pelos pelas para ao à entre que é são seu sua se muito como",
}

# Columns: en fr de es it pt zh; alternatives separated by "/".
PROMPT_WORDS = """\
en	fr	de	es	it	pt	zh
sunset	coucher de soleil	Sonnenuntergang	atardecer/puesta de sol	tramonto	pôr do sol	日落
sunrise	lever de soleil	Sonnenaufgang	amanecer	alba	nascer do sol	日出
cat/kitten	chat/chaton	Katze/Kätzchen	gato/gatito	gatto/gattino	gato/gatinho	猫/小猫
dog/puppy	chien/chiot	Hund/Welpe	perro/cachorro	cane/cucciolo	cachorro/filhote	狗/小狗
bird	oiseau	Vogel	pájaro/ave	uccello	pássaro	鸟
butterfly	papillon	Schmetterling	mariposa	farfalla	borboleta	蝴蝶
horse	cheval	Pferd	caballo	cavallo	cavalo	马
fish	poisson	Fisch	pez	pesce	peixe	鱼
whale	baleine	Wal	ballena	balena	baleia	鲸鱼
dolphin	dauphin	Delfin	delfín	delfino	golfinho	海豚
tiger	tigre	Tiger	tigre	tigre	tigre	老虎
lion	lion	Löwe	león	leone	leão	狮子
wolf	loup	Wolf	lobo	lupo	lobo	狼
fox	renard	Fuchs	zorro	volpe	raposa	狐狸
bear	ours	Bär	oso	orso	urso	熊
panda	panda	Panda	panda	panda	panda	熊猫
dragon	dragon	Drache	dragón	drago	dragão	龙
crane	grue	Kranich	grulla	gru	garça	鹤
eagle	aigle	Adler	águila	aquila	águia	鹰
owl	hibou/chouette	Eule	búho	gufo	coruja	猫头鹰
deer	cerf	Hirsch/Reh	ciervo	cervo	veado	鹿
rabbit	lapin	Hase/Kaninchen	conejo	coniglio	coelho	兔子
flower	fleur	Blume/Blüte	flor	fiore	flor	花
tree	arbre	Baum	árbol	albero	árvore	树
forest	forêt	Wald	bosque/selva	foresta/bosco	floresta	森林
mountain	montagne	Berg	montaña	montagna	montanha	山
river	rivière/fleuve	Fluss	río	fiume	rio	河
lake	lac	See	lago	lago	lago	湖
sea/ocean	mer/océan	Meer/Ozean	mar/océano	mare/oceano	mar/oceano	海
beach	plage	Strand	playa	spiaggia	praia	沙滩
wave	vague	Welle	ola	onda	onda	波浪
waterfall	cascade	Wasserfall	cascada	cascata	cachoeira	瀑布
desert	désert	Wüste	desierto	deserto	deserto	沙漠
island	île	Insel	isla	isola	ilha	岛
sky	ciel	Himmel	cielo	cielo	céu	天空
cloud	nuage	Wolke	nube	nuvola	nuvem	云
sun	soleil	Sonne	sol	sole	sol	太阳
moon	lune	Mond	luna	luna	lua	月亮
star	étoile	Stern	estrella	stella	estrela	星星
rain	pluie	Regen	lluvia	pioggia	chuva	雨
snow	neige	Schnee	nieve	neve	neve	雪
wind	vent	Wind	viento	vento	vento	风
storm	tempête/orage	Sturm/Gewitter	tormenta	tempesta	tempestade	暴风雨
fog/mist	brouillard/brume	Nebel	niebla	nebbia	névoa/neblina	雾
fire/flame	feu/flamme	Feuer/Flamme	fuego/llama	fuoco/fiamma	fogo/chama	火
light	lumière	Licht	luz	luce	luz	光
night	nuit	Nacht	noche	notte	noite	夜晚
day	jour	Tag	día	giorno	dia	白天
morning	matin	Morgen	mañana	mattina	manhã	早晨
evening	soir	Abend	tarde	sera	tarde	傍晚
winter	hiver	Winter	invierno	inverno	inverno	冬天
summer	été	Sommer	verano	estate	verão	夏天
spring	printemps	Frühling	primavera	primavera	primavera	春天
autumn/fall	automne	Herbst	otoño	autunno	outono	秋天
city	ville	Stadt	ciudad	città	cidade	城市
street	rue	Straße	calle	strada/via	rua	街道
road/path	chemin/route	Weg	camino	cammino/sentiero	caminho/estrada	道路
house	maison	Haus	casa	casa	casa	房子
castle	château	Schloss/Burg	castillo	castello	castelo	城堡
bridge	pont	Brücke	puente	ponte	ponte	桥
window	fenêtre	Fenster	ventana	finestra	janela	窗户
garden	jardin	Garten	jardín	giardino	jardim	花园
market	marché	Markt	mercado	mercato	mercado	市场
temple	temple	Tempel	templo	tempio	templo	寺庙
village	village	Dorf	pueblo/aldea	villaggio	aldeia/vila	村庄
car	voiture	Auto	coche	macchina/auto	carro	汽车
train	train	Zug	tren	treno	trem	火车
boat/ship	bateau	Boot/Schiff	barco	barca/nave	barco/navio	船
plane	avion	Flugzeug	avión	aereo	avião	飞机
robot	robot	Roboter	robot	robot	robô	机器人
woman	femme	Frau	mujer	donna	mulher	女人
man	homme	Mann	hombre	uomo	homem	男人
girl	fille	Mädchen	niña/chica	ragazza/bambina	menina/garota	女孩
boy	garçon	Junge	niño/chico	ragazzo/bambino	menino/garoto	男孩
child/children	enfant	Kind/Kinder	niños	bambini	criança	孩子
old man	vieillard	Greis	anciano	anziano	idoso	老人
grandmother	grand-mère	Großmutter/Oma	abuela	nonna	avó	奶奶
astronaut	astronaute	Astronaut	astronauta	astronauta	astronauta	宇航员
knight	chevalier	Ritter	caballero	cavaliere	cavaleiro	骑士
warrior	guerrier	Krieger	guerrero	guerriero	guerreiro	武士
cook/chef	cuisinier	Koch	cocinero	cuoco	cozinheiro	厨师
dancer	danseuse/danseur	Tänzer/Tänzerin	bailarín/bailarina	ballerino/ballerina	dançarino/bailarina	舞者
face	visage	Gesicht	rostro/cara	viso	rosto	脸
eyes	yeux	Augen	ojos	occhi	olhos	眼睛
hair	cheveux	Haare	cabello/pelo	capelli	cabelo	头发
hand	main	Hand	mano	mano	mão	手
dress	robe	Kleid	vestido	vestito/abito	vestido	裙子
hat	chapeau	Hut	sombrero	cappello	chapéu	帽子
umbrella	parapluie	Regenschirm	paraguas	ombrello	guarda-chuva	雨伞
lantern	lanterne	Laterne	farol/linterna	lanterna	lanterna	灯笼
fireworks	feux d'artifice	Feuerwerk	fuegos artificiales	fuochi d'artificio	fogos de artifício	烟花
candle	bougie	Kerze	vela	candela	vela	蜡烛
book	livre	Buch	libro	libro	livro	书
guitar	guitare	Gitarre	guitarra	chitarra	violão/guitarra	吉他
coffee	café	Kaffee	café	caffè	café	咖啡
tea	thé	Tee	té	tè	chá	茶
bread	pain	Brot	pan	pane	pão	面包
water	eau	Wasser	agua	acqua	água	水
ice	glace	Eis	hielo	ghiaccio	gelo	冰
stone/rock	pierre/rocher	Stein/Felsen	piedra/roca	pietra/roccia	pedra/rocha	石头
leaf/leaves	feuille	Blatt/Blätter	hoja	foglia	folha	叶子
grass	herbe	Gras	hierba	erba	grama	草
field/meadow	champ/prairie	Feld/Wiese	campo/prado	campo/prato	campo/prado	田野
red	rouge	rot	rojo/roja	rosso/rossa	vermelho/vermelha	红色
blue	bleu	blau	azul	blu	azul	蓝色
green	vert	grün	verde	verde	verde	绿色
yellow	jaune	gelb	amarillo	giallo	amarelo	黄色
white	blanc/blanche	weiß	blanco/blanca	bianco/bianca	branco/branca	白色
black	noir/noire	schwarz	negro/negra	nero/nera	preto/preta	黑色
golden/gold	doré/or	golden/Gold	dorado/oro	dorato/oro	dourado/ouro	金色
silver	argent	Silber	plata	argento	prata	银色
dark	sombre	dunkel	oscuro	scuro	escuro	黑暗
bright	lumineux	hell	brillante	luminoso	brilhante	明亮
beautiful	beau/belle	schön	hermoso/hermosa	bello/bella	bonito/bonita/lindo	美丽
old/ancient	vieux/vieille/ancien	alt	viejo/antiguo	vecchio/antico	velho/antigo	古老
new	nouveau	neu	nuevo	nuovo	novo	新
small/little	petit/petite	klein	pequeño/pequeña	piccolo/piccola	pequeno/pequena	小
big/large	grand/grande	groß	grande	grande	grande	大
calm/quiet	calme	ruhig/still	tranquilo	tranquillo/calmo	tranquilo/calmo	宁静
slow motion	ralenti	Zeitlupe	cámara lenta	rallentatore	câmera lenta	慢动作
close-up	gros plan	Nahaufnahme	primer plano	primo piano	close	特写
aerial	aérien/aérienne	Luftaufnahme	aéreo/aérea	aereo/aerea	aéreo/aérea	航拍
cinematic	cinématographique	filmisch	cinematográfico	cinematografico	cinematográfico	电影感
portrait	portrait	Porträt	retrato	ritratto	retrato	肖像
landscape	paysage	Landschaft	paisaje	paesaggio	paisagem	风景
running	court/courant	rennt	corre/corriendo	corre/correndo	corre/correndo	奔跑
walking	marche/marchant	geht/läuft	camina/caminando	cammina/camminando	caminha/caminhando	行走
flying	vole/volant	fliegt	vuela/volando	vola/volando	voa/voando	飞翔
dancing	danse/dansant	tanzt	baila/bailando	balla/ballando	dança/dançando	跳舞
sleeping	dort/dormant	schläft	duerme/durmiendo	dorme/dormendo	dorme/dormindo	睡觉
swimming	nage	schwimmt	nada/nadando	nuota/nuotando	nada/nadando	游泳
falling	tombe/tombent	fällt/fallen	cae/cayendo	cade/cadono	cai/caindo	飘落
playing	joue/jouant	spielt/spielen	juega/jugando	gioca/giocando	brinca/brincando/joga	玩耍
reading	lit	liest	lee/leyendo	legge	lê/lendo	阅读
smiling	sourit	lächelt	sonríe	sorride	sorri	微笑
jumping	saute	springt	salta/saltando	salta/saltando	salta/saltando/pula	跳跃
glowing	brille	leuchtet	brilla	brilla	brilha	发光
neon	néon	Neon	neón	neon	neon	霓虹
futuristic	futuriste	futuristisch	futurista	futuristico	futurista	未来
detailed	détaillé	detailliert	detallado	dettagliato	detalhado	细节丰富
realistic	réaliste	realistisch	realista	realistico	realista	写实
watercolor	aquarelle	Aquarell	acuarela	acquerello	aquarela	水彩
painting	peinture/tableau	Gemälde/Malerei	pintura	pittura/dipinto	pintura	绘画
style	style	Stil	estilo	stile	estilo	风格
scene	scène	Szene	escena	scena	cena	场景
lighting	éclairage	Beleuchtung	iluminación	illuminazione	iluminação	灯光
shadow	ombre	Schatten	sombra	ombra	sombra	阴影
reflection	reflet	Spiegelung	reflejo	riflesso	reflexo	倒影
smoke/steam	fumée/vapeur	Rauch/Dampf	humo/vapor	fumo/vapore	fumaça/vapor	烟
music	musique	Musik	música	musica	música	音乐
dance	danse	Tanz	baile/danza	danza/ballo	dança	舞蹈
sword	épée	Schwert	espada	spada	espada	剑
battle/fight	bataille/combat	Schlacht/Kampf	batalla/guerra	battaglia	batalha/guerra	战斗
snowball	boule de neige	Schneeball	bola de nieve	palla di neve	bola de neve	雪球
crowd	foule	Menschenmenge	multitud	folla	multidão	人群
people	gens	Menschen/Leute	gente/personas	persone	pessoas	人们
timelapse	accéléré	Zeitraffer	cámara rápida	timelapse	timelapse	延时摄影
underwater	sous-marin	Unterwasser	submarino	subacqueo	subaquático	水下
space	espace	Weltraum	espacio	spazio	espaço	太空
planet	planète	Planet	planeta	pianeta	planeta	星球
ruins	ruines	Ruinen	ruinas	rovine	ruínas	废墟
kitchen	cuisine	Küche	cocina	cucina	cozinha	厨房
room	chambre/pièce	Zimmer/Raum	habitación	stanza	quarto/sala	房间
table	table	Tisch	mesa	tavolo	mesa	桌子
wood/wooden	bois	Holz	madera	legno	madeira	木头
glass	verre	Glas	vidrio/cristal	vetro	vidro	玻璃
"""

# Shinjitai and kokuji forms that neither Simplified nor Traditional Chinese writes.
JAPANESE_ONLY_KANJI = frozenset(
    "桜歩広駅気図発県辺円労営楽戦鉄転伝対応浜沢黒読売変団仏拝歳竜亀鶏滝畑峠込働枠凪辻栃隠険検剣様徳蔵巣髪顔覚"
    "実薬絵縄乗剰銭緑涙雑焼揺弾単巻圏拡軽経継続総縦繊闘満渓窓戸帰両姫麺駆穏恵悪黙獣塩関壊懐暁縁稲"
)

# Kanji-only words that are Japanese, not Chinese (Chinese says 烟花, 小猫, 和服 ...).
JAPANESE_KANJI_WORDS = (
    "花火", "子猫", "子犬", "着物", "浴衣", "花見", "夕日", "朝日", "花吹雪", "雪景色", "入道雲", "鳥居",
    "居酒屋", "提灯", "屋台", "神輿", "城下町", "夕暮", "紅葉狩",
)


def _words(phrase: str) -> list[str]:
    return re.findall(r"[^\W\d_]+", phrase.lower())


@cache
def prompt_table() -> tuple[tuple[str, ...], ...]:
    """PROMPT_WORDS as rows of cells (header excluded)."""
    lines = PROMPT_WORDS.strip().splitlines()[1:]
    return tuple(tuple(line.split("\t")) for line in lines)


@cache
def known_words(language: str) -> frozenset[str]:
    """Lower-case words known to be `language` (one of LATIN_LANGUAGES)."""
    column = LATIN_LANGUAGES.index(language)
    words = set(FUNCTION_WORDS[language].split())
    for row in prompt_table():
        for alternative in row[column].split("/"):
            words.update(_words(alternative))
    return frozenset(words)


def chinese_words() -> list[str]:
    """The Chinese column of PROMPT_WORDS, one word per entry."""
    return [word for row in prompt_table() for word in row[-1].split("/")]

# Han characters Japanese never writes: Simplified forms (Japanese writes 気 for 气, 車 for 车, 広 for 广 ...) and
# Traditional forms Japanese simplified differently (國 -> 国, 說 -> 説). Shared forms (国, 学, 会, 写, 灯 ...) are left out.
CHINESE_ONLY_HAN = frozenset(
    "们这个说么吗呢还没让给对时间见书车东马鸟鱼门长开关问题动发现实头进远连运边语请读样树机飞龙凤风电话视线红绿"
    "蓝银铁钟烟烂闪阳阴队阵华丽梦钱买卖饭馆鸡鸭猪兰岛枫桥剑战龟师齐摆烧饺汤乐欢闹热钢弹骑驶鲸虾园场广厅灵爱妈爷"
    "孙儿张带窗戏绘际处满离两轮转轻听讲笔纸织丝级经结续缓众从伞气无忆节览观质资员圆盘樱湾锅拉亲虽图声滩涛"
    "們這說麼嗎裡貓燈麵雞點颱臺灣廣國學會來體畫廚餃溫媽綠戰鐵單搖斷亞萬氣聲盞碼隻"
)
# Characters that carry Chinese grammar (particles, measure words, prepositions); kanji-only Japanese avoids them.
CHINESE_GRAMMAR_HAN = frozenset("的了在是很把被吧啊呢")
# Latin words that Chinese prompts use as they are (loanwords, not phrases to translate).
LATIN_LOANWORDS = frozenset(
    "vlog vlogger cosplay ins emo rap hiphop hip-hop party cool ok logo app pose blog selfie diy spa mv pk vip cp solo"
    " kpop k-pop jk lolita q cbd ktv dj ceo ufo".split()
)

# Indonesian and Malay share most words; these are the everyday ones that differ (car, window, bicycle, cup ...).
# With no such word the prompt is taken as Indonesian, the far more common of the two.
INDONESIAN_ONLY = frozenset(
    "mobil jendela sepeda cangkir secangkir kupu-kupu kakek polisi kembang lapangan jalanan bisa banget sekali"
    " kantor kamar mandi dapur rumah-rumah bioskop terasering cewek cowok gadis jeruk semangka apotek".split()
)
MALAY_ONLY = frozenset(
    "kereta tingkap basikal cawan secawan rama-rama datuk polis bunga bandar kanak-kanak budak pentas jeti teksi bas"
    " boleh awak tak sahaja sedang perempuan lelaki gambar berkembar menara sesak pengunjung ladang".split()
)
