"""A synthetic Speak & Improve corpus, written in the real kit's layout, with espeak-ng speech.

:func:`make_synthetic_corpus` writes a tree that :func:`processing_sla.speak_improve.load_speak_improve`
reads like the real S&I Challenge 2025 kit::

    data/flac/train/{NN}/{P1,P3,P4,P5}/{submissionID}-{questionID}.flac     (train: one folder per part)
    data/flac/{dev,eval}/{NN}/{submissionID}-{questionID}.flac              (dev, eval: no part folder)
    reference-materials/flists.flac/{split}-sla-{P1,P3,P4,P5,overall}.tsv  fileID<TAB>relative path
    reference-materials/sla-marks/{split}-sla-{P1,P3,P4,P5,overall}.tsv    submissionID<TAB>score (%.3f)
    reference-materials/annotations/{split}-synthetic-trans-ref.json       kit annotation format
    reference-materials/speakers.tsv                                        one learner per line, with a header
    synthetic-summary.json                                                  counts, speed and checks

The learner model. Every session is one learner with a latent proficiency ``z`` (standard normal; on the
mark scale ``3.95 + 0.58 z``). Each part mark is that plus a part offset and its own noise, rounded to half
bands in 2.0-5.5; the overall mark is the mean of the four part marks (written like the kit, e.g. 4.125).
The latent is audible and readable through six cues, each ``rho * z + sqrt(1 - rho^2) * e`` with its OWN
per-learner noise ``e`` (a fluent speaker may use plain words, a slow one rich words):

- ``rate``: speaking rate (espeak words per minute);
- ``pause``: silences between sentences and inside them, and the delay before speaking;
- ``filler``: spoken fillers ("um", "er", ...) in pauses, transcribed as ``hesitation`` tags like the kit;
- ``disfluency``: repetitions and false starts (kit marks ``disfluency`` and ``partial``);
- ``length``: how much of the allotted speaking time the answer fills (long answers are cut at the limit,
  ending with a partial word and a ``speech-unit-incomplete`` tag, as in the kit);
- ``lexical``: the CEFR level (A2, B1, B2, C1) of the sentences drawn from graded pools written per part
  and question topic, sentence by sentence around the learner's level.

The L1 is one of several espeak voices of other languages reading the English text; it is drawn apart
from the latent (balanced against it within each split, see ``_assign_l1``) and must not change the score. Sessions are made incomplete (whole parts missing, missing
answers inside P1 and P5, overall marks for sessions whose part files are not all released) at the rates
of the real kit's train lists; dev and eval have missing answers only, like the real dev.

Everything is drawn from numpy generators seeded by (seed, session): the same seed gives the same bytes,
with any number of worker processes (espeak is reloaded before every session, see
:func:`processing_sla.espeak_tts.reset`). Only stdlib, numpy, soundfile, soxr and tqdm are used here.
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_SPLITS",
    "L1_VOICES",
    "PARTS",
    "QUESTION_IDS",
    "SPEAKING_TIME",
    "make_synthetic_corpus",
    "ridge_r2",
    "voiced_fraction",
]

PARTS = ("P1", "P3", "P4", "P5")
QUESTION_IDS = {
    "P1": ("P10003", "P10004", "P10005", "P10006", "P10007", "P10008"),
    "P3": ("P30017",),
    "P4": ("P40018",),
    "P5": ("P50019", "P50020", "P50021", "P50022", "P50023"),
}
SPEAKING_TIME = {"P1": 20.0, "P3": 60.0, "P4": 60.0, "P5": 20.0}  # seconds, as in the kit's questions
THINKING_TIME = {"P1": 0, "P3": 40, "P4": 60, "P5": 40}
DEFAULT_SPLITS = ("train", "dev", "eval")
SPLIT_SHARES = {"train": 0.70, "dev": 0.15, "eval": 0.15}
LEVELS = ("A2", "B1", "B2", "C1")
SAMPLE_RATE = 16000
ID_PREFIX = "SYN000"

# espeak voices of other languages reading the English text (all checked to exist in espeakng-loader 0.2.4).
L1_VOICES = ("es", "it", "pt", "fr", "de", "pl", "ru", "ar", "hi", "cmn")
VOICE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "f1", "f2", "f3", "f4")

# --- the learner model ----------------------------------------------------------------------------------
LATENT_MEAN, LATENT_SD = 3.95, 0.58
PART_OFFSET = {"P1": 0.0, "P3": 0.19, "P4": -0.09, "P5": 0.0}  # real train part means minus overall mean
PART_NOISE_SD = 0.38  # real part marks correlate about 0.63-0.73 with each other
MARK_MIN, MARK_MAX = 2.0, 5.5
# Loading of each cue on the latent; the rest of each cue is the learner's own noise.
CUE_LOADINGS = {"rate": 0.5, "pause": 0.5, "filler": 0.45, "disfluency": 0.45, "length": 0.45, "lexical": 0.75}

# --- incompleteness, from the real kit's lists and marks (release 20241217) ------------------------------
# Train: parts released (files and marks go together) per submission, 6,642 submissions.
REAL_TRAIN_PART_PATTERNS = {
    ("P5",): 1626, ("P1", "P3", "P4", "P5"): 1247, ("P1",): 978, ("P4",): 770, ("P3",): 617,
    ("P3", "P4"): 548, ("P1", "P3", "P4"): 231, ("P1", "P3"): 227, ("P1", "P4"): 186, ("P1", "P3", "P5"): 180,
    ("P1", "P4", "P5"): 11, ("P3", "P4", "P5"): 9, ("P1", "P5"): 8, ("P4", "P5"): 3, ("P3", "P5"): 1,
}
# Train submissions with an overall mark although not all four parts are released: 495 of 5,395.
REAL_TRAIN_OVERALL_WITHOUT_ALL_PARTS = (495, 6642 - 1247)
# Answers present within P1 (of 6) and P5 (of 5), per submission that has the part.
REAL_ANSWER_COUNTS = {
    "train": {"P1": {6: 2831, 5: 159, 4: 63, 3: 10, 2: 4, 1: 1}, "P5": {5: 3039, 4: 28, 3: 12, 2: 4, 1: 2}},
    "dev": {"P1": {6: 400, 5: 25, 4: 11, 3: 2}, "P5": {5: 416, 4: 20, 3: 1, 2: 1}},
}
# Two-digit folder under data/flac/{split}/ (submissions per folder).
REAL_FOLDERS = {"train": {"05": 4983, "04": 1094, "02": 263, "03": 166, "01": 136}, "dev": {"01": 300, "02": 138}}
REAL_KIT_RATES = {
    "train": {"submissions": 6642, "all_four_parts": 1247 / 6642, "overall_mark": 1742 / 6642,
              "p1_sessions_missing_answers": 237 / 3068, "p5_sessions_missing_answers": 46 / 3085},
    "dev": {"submissions": 438, "all_four_parts": 1.0, "overall_mark": 1.0,
            "p1_sessions_missing_answers": 38 / 438, "p5_sessions_missing_answers": 22 / 438},
}


def _split_profile(split: str) -> str:
    """Which real split's incompleteness a split copies: train is train, anything else is like dev."""
    return "train" if split == "train" else "dev"


# --- graded text pools ----------------------------------------------------------------------------------
# Every topic has one line per (level, slot): "A2| sentence". Slot i at each level answers the same point
# (for P3 and P4 the slots run in order: advantages, disadvantages, opinion / the steps of the process).
# A2 lines keep typical learner errors on purpose.

_P1_TOPICS = {
    "hometown": ("Can you describe the town or city where you live?", """
A2| I live in a small town near the sea.
A2| My town is very nice and quiet.
A2| There is a big park and many shop.
A2| I like my town because my friends is there.
B1| I live in a medium sized town which is about an hour from the capital.
B1| There are a lot of cafes in the centre, so it is a nice place to meet friends.
B1| In the past it was quieter, but now there is more traffic.
B1| The best thing about my town is that everything is close to my house.
B2| I've lived in the same neighbourhood since I was a child, so I know almost everyone there.
B2| Although it isn't particularly exciting, it has a relaxed atmosphere that I really appreciate.
B2| The local council has recently renovated the old market, which has attracted a lot of visitors.
B2| If I could change one thing, I would improve the public transport, because the buses are often late.
C1| My home town is a rather sleepy coastal community that comes alive during the summer months.
C1| What strikes most visitors is the contrast between the historic harbour and the sprawling suburbs.
C1| Admittedly, the lack of cultural venues can be frustrating for young people with ambitious plans.
C1| Nevertheless, I would be reluctant to move away, since I value the sense of belonging it gives me.
"""),
    "free_time": ("What do you usually do in your free time?", """
A2| In my free time I play football with my friends.
A2| I like watch films in the evening.
A2| Sometimes I go to the park with my dog.
A2| At the weekend I sleep a lot and I play computer games.
B1| When I have some free time, I usually go running or meet my friends in town.
B1| I started learning the guitar last year and I practise almost every day.
B1| I enjoy reading, especially detective stories, because they are exciting.
B1| If the weather is good, we often go for a walk in the mountains.
B2| These days most of my free time is taken up by photography, which I got into a couple of years ago.
B2| I try to balance relaxing activities with things that keep me fit, like swimming twice a week.
B2| Whenever I get the chance, I volunteer at a local animal shelter, which I find really rewarding.
B2| I've been meaning to take up painting again, but I never seem to find enough time.
C1| I tend to gravitate towards hobbies that allow me to switch off completely, such as hiking.
C1| Lately I've become rather absorbed in restoring old furniture, which demands a surprising amount of patience.
C1| I'd say my leisure time is fairly structured, otherwise I end up frittering it away on my phone.
C1| What I find particularly fulfilling is acquiring a new skill from scratch and gradually mastering it.
"""),
    "family": ("Tell me about someone in your family you get on well with.", """
A2| I get on well with my sister.
A2| She is older than me and she is very kind.
A2| We watch TV together and we talk a lot.
A2| My brother is funny but sometimes he is angry.
B1| I get on really well with my older brother, although we argued a lot when we were younger.
B1| He always helps me when I have a problem with my studies.
B1| We both like sport, so we often go to matches together.
B1| My grandmother is also very important to me because she looked after me when I was small.
B2| The person I'm closest to is probably my mother, since she has always encouraged me to follow my own path.
B2| We share a similar sense of humour, which means we rarely run out of things to talk about.
B2| Even though we live in different cities now, we make an effort to call each other every week.
B2| I think I've inherited her determination, although I'm not nearly as organised as she is.
C1| I'd have to say my uncle, who has been something of a mentor to me throughout my teenage years.
C1| He has an uncanny ability to put things into perspective whenever I'm feeling overwhelmed.
C1| Our conversations tend to range from politics to philosophy, and he never talks down to me.
C1| In many respects, he has shaped the way I approach challenges and setbacks.
"""),
    "future_job": ("What kind of work would you like to do in the future?", """
A2| In the future I want to be a teacher.
A2| I like children and I like to help people.
A2| My father is a doctor and I want a job like him.
A2| I want work in a big company in the city.
B1| I would like to become a nurse because I enjoy looking after people.
B1| I'm studying hard at the moment so that I can go to university next year.
B1| It would be great to have a job where I can travel to different countries.
B1| I don't want to work in an office all day, because I think it would be boring.
B2| Ideally, I'd like to work in software development, since it combines creativity with problem solving.
B2| I'm aware that it's a competitive field, so I've been building up my skills by doing online courses.
B2| What matters most to me is finding a job that offers a good balance between work and private life.
B2| If that doesn't work out, I might consider setting up my own small business.
C1| I'm increasingly drawn to a career in environmental policy, where I could make a tangible difference.
C1| Having completed an internship at a research institute, I've gained insight into how decisions are actually made.
C1| The prospect of shaping legislation that affects millions of people is both daunting and exhilarating.
C1| That said, I'm keeping my options open, as the job market is notoriously unpredictable.
"""),
    "food": ("What sort of food do you enjoy cooking or eating?", """
A2| I like pizza and pasta very much.
A2| My mother cook very good food.
A2| I eat fruit every day because it is healthy.
A2| I don't like fish, it is not good for me.
B1| I really enjoy cooking traditional dishes from my country, especially at the weekend.
B1| My favourite meal is rice with chicken and vegetables, which my grandmother taught me to make.
B1| I try to eat healthy food, but sometimes I buy fast food because it is quick.
B1| When I go out with friends, we usually choose an Italian or a Mexican restaurant.
B2| I've recently become quite interested in vegetarian cooking, partly for health reasons and partly for the environment.
B2| What I love about cooking is experimenting with spices and seeing how they change a dish.
B2| Although I'm not a professional, my friends always ask me to prepare dinner when we get together.
B2| I've noticed that home cooked meals are not only cheaper but also far more satisfying.
C1| I'm something of a culinary adventurer, so I relish the opportunity to sample unfamiliar cuisines.
C1| There's something deeply therapeutic about preparing an elaborate meal from scratch after a hectic week.
C1| I'm particularly fond of slow cooked stews, whose flavours develop gradually over several hours.
C1| Food, in my view, is inextricably linked to culture, and sharing a meal is a way of sharing identity.
"""),
    "holidays": ("Where did you go on your last holiday?", """
A2| Last summer I go to the beach with my family.
A2| The weather was very hot and sunny.
A2| We swim in the sea every day.
A2| The hotel was big and the food was good.
B1| Last year I went to Portugal with two of my friends for a week.
B1| We stayed in a small apartment near the old town, which was very convenient.
B1| The best part was when we took a boat trip along the coast.
B1| Unfortunately it rained on the last day, so we spent the afternoon in a museum.
B2| My last holiday was a road trip through the north of Spain, which I'd been planning for ages.
B2| We deliberately avoided the big tourist spots and stayed in tiny villages instead.
B2| What impressed me most was how welcoming the local people were, even though my Spanish is quite limited.
B2| If I went again, I'd allow more time, because we were constantly rushing from place to place.
C1| I recently spent a fortnight backpacking around Vietnam, which turned out to be a genuinely eye opening experience.
C1| Navigating the chaotic streets of Hanoi on a scooter was exhilarating, if somewhat nerve racking.
C1| I was struck by the resilience of people who have endured so much upheaval in recent history.
C1| It's the kind of trip that leaves you reconsidering your own priorities long after you've returned.
"""),
    "friends": ("How do you usually spend time with your friends?", """
A2| I meet my friends at school every day.
A2| We play games and we go to the cinema.
A2| My best friend name is Ana and she is very nice.
A2| On Saturday we eat pizza together.
B1| My friends and I usually meet at a cafe after work to chat about our week.
B1| Sometimes we organise a trip to the countryside when the weather is nice.
B1| We have known each other since primary school, so we are very close.
B1| We also play online games together when we can't meet in person.
B2| Most of my friends are quite busy, so we make a point of meeting up at least once a month.
B2| We often end up having long discussions about films we've seen or books we've read.
B2| I think what keeps our friendship strong is that we're completely honest with each other.
B2| Recently we've started a running club, which has been a great way to stay in touch and get fit.
C1| My circle of friends is fairly eclectic, which makes our get togethers unpredictable and lively.
C1| We've developed a tradition of hosting themed dinners, each of us taking turns to cook.
C1| Inevitably, as we've taken on more responsibilities, spontaneous plans have become harder to arrange.
C1| Still, I'd argue that the quality of a friendship matters far more than how often you meet.
"""),
    "seasons": ("What is your favourite season of the year, and why?", """
A2| My favourite season is summer.
A2| In summer it is hot and I can go to the beach.
A2| I don't like winter because it is very cold.
A2| In spring there are many flowers.
B1| I prefer autumn because the colours of the trees are really beautiful.
B1| It isn't too hot or too cold, so it's perfect for walking.
B1| In summer it gets so hot in my city that it's difficult to sleep.
B1| I also like autumn because my birthday is in October.
B2| I've always preferred spring, mainly because everything seems to come back to life after the winter.
B2| The days get longer, which makes me feel much more energetic and optimistic.
B2| Summers where I live have become unbearably hot in recent years, which worries me a little.
B2| Whereas some people love the snow, I find that the winter months drag on forever.
C1| I'm particularly fond of late autumn, when the crisp mornings give way to mild, golden afternoons.
C1| There's a certain melancholy to that time of year that I find oddly comforting.
C1| Summer, by contrast, has become almost oppressive, with heatwaves that seem to grow more frequent every year.
C1| I suspect my preference is also bound up with childhood memories of harvest festivals in my village.
"""),
    "music": ("What kind of music do you listen to?", """
A2| I listen to pop music every day.
A2| My favourite singer is very famous.
A2| I listen music on my phone in the bus.
A2| I like songs in English and in my language.
B1| I listen to all kinds of music, but mostly rock and pop.
B1| I usually listen to music when I'm travelling to work or doing exercise.
B1| Last month I went to a concert with my cousin and it was amazing.
B1| I think music helps me to relax after a long day.
B2| My taste in music is fairly broad, although I've been listening to a lot of jazz lately.
B2| I find that instrumental music helps me concentrate when I'm studying for exams.
B2| I've been to quite a few live concerts, and the atmosphere is always far better than listening at home.
B2| I'd love to learn an instrument properly, but I've never had the discipline to practise regularly.
C1| I'd describe my taste as rather eclectic, ranging from baroque composers to experimental electronic artists.
C1| What fascinates me is how certain pieces can evoke vivid memories almost instantaneously.
C1| I've grown somewhat disillusioned with mainstream pop, which strikes me as increasingly formulaic.
C1| Discovering obscure artists through recommendations has become one of my favourite pastimes.
"""),
    "studies": ("What do you find most interesting about your studies or your job?", """
A2| I study English and maths at school.
A2| My teacher is very good and friendly.
A2| I like my job because my colleagues are nice.
A2| Maths is difficult for me but I try.
B1| I'm studying business at university, and I find marketing the most interesting subject.
B1| We often work in groups, which helps me learn from other students.
B1| The most difficult part is the exams, because there is a lot to remember.
B1| I enjoy my job because every day is different and I meet new people.
B2| What I find most rewarding about my course is that it combines theory with practical projects.
B2| We're currently working on a research project, which has taught me a lot about teamwork.
B2| Having said that, the workload can be overwhelming, particularly at the end of the semester.
B2| I've realised that I learn best when I can apply what I've studied to real situations.
C1| What I find most stimulating is the interdisciplinary nature of my degree, which draws on economics and law.
C1| I've become particularly interested in how behavioural insights can inform public policy.
C1| The intellectual freedom we're given is invaluable, although it requires considerable self discipline.
C1| Ultimately, I'd like to pursue postgraduate research in this area.
"""),
    "transport": ("How do you usually travel around your town?", """
A2| I go to school by bus.
A2| The bus is cheap but it is slow.
A2| Sometimes my father drive me in his car.
A2| I like walk when the weather is good.
B1| I usually cycle to work because it's faster than taking the bus.
B1| There is a good metro system in my city, but it's very crowded in the morning.
B1| When I was younger I always walked to school with my friends.
B1| I'm saving money to buy a car, because it would make my life easier.
B2| I rely mostly on public transport, which is reasonably efficient, although it could be more reliable.
B2| Since the city introduced cycle lanes, I've started cycling whenever the weather allows.
B2| I'd rather not drive in the centre, because finding a parking space is a nightmare.
B2| If the trains were cheaper, I think far more people would leave their cars at home.
C1| I've deliberately organised my life so that I can get around almost entirely on foot or by bike.
C1| The city's transport network is comprehensive, but chronic underinvestment has left it rather dilapidated.
C1| Commuting by train does have the advantage of giving me uninterrupted time to read.
C1| I'm convinced that affordable, reliable public transport is fundamental to tackling urban pollution.
"""),
    "phone": ("How often do you use your phone during the day?", """
A2| I use my phone all the time.
A2| I send messages to my friends and I watch videos.
A2| My phone is new and it is very fast.
A2| My mother say I use my phone too much.
B1| I probably use my phone for about four hours a day, which is quite a lot.
B1| I mostly use it to chat with friends and to check social media.
B1| I try not to use it before I go to sleep, because it keeps me awake.
B1| I also use some apps to practise English on the way to work.
B2| To be honest, I use my phone far more than I'd like to admit, especially for work emails.
B2| I've recently turned off most notifications, which has helped me concentrate much better.
B2| It's incredibly convenient, but I sometimes feel that it prevents me from being fully present.
B2| I've noticed that I reach for it automatically whenever I have a spare moment.
C1| I've become increasingly conscious of how much of my attention is consumed by my phone.
C1| While it's undeniably indispensable for work, I've started setting strict boundaries on its use.
C1| There's compelling evidence that constant connectivity undermines our capacity for deep concentration.
C1| I'd like to think I'm in control, but the data on my screen time suggests otherwise.
"""),
}

_P3_TAIL = "\\n\\nYou should say:\\n* What are the advantages?\\n* What are the disadvantages?\\n* What is your own opinion?"
_P3_TOPICS = {
    "cooking": ("Everyone should learn to cook at school.", """
A2| Cooking is good because you can make your food.
A2| You can eat healthy food and not fast food.
A2| But it is expensive for the school.
A2| Some students don't like cook and it is boring for them.
A2| I think it is a good idea.
A2| I like cooking with my mother.
B1| One advantage is that students learn how to prepare healthy meals for themselves.
B1| It is also useful when they leave home and live alone.
B1| On the other hand, schools would need special kitchens, which cost a lot of money.
B1| Students already have many subjects, so there might not be enough time.
B1| In my opinion, it's a good idea because cooking is an important life skill.
B1| I wish I had learned to cook when I was at school.
B2| The main advantage is that young people would develop healthier eating habits early in life.
B2| It could also help to reduce the amount of money families spend on ready meals and takeaways.
B2| However, setting up and maintaining school kitchens would place a considerable burden on school budgets.
B2| Another drawback is that teachers would need specific training, which takes time to organise.
B2| Personally, I believe the benefits outweigh the costs, as long as the lessons are practical.
B2| If I had been taught to cook properly, I would probably have a much better diet now.
C1| Arguably the most compelling argument is that cooking lessons equip young people with an essential skill for independent living.
C1| Moreover, they could play a significant role in tackling the rise in diet related illnesses.
C1| Critics would point out that the curriculum is already overcrowded and that something else would have to be sacrificed.
C1| There are also legitimate concerns about the cost of ingredients and the health and safety implications.
C1| On balance, I'm inclined to think that practical nutrition education is an investment that pays for itself.
C1| It would, however, need to be integrated thoughtfully rather than simply bolted on to existing timetables.
"""),
    "remote_work": ("People should work from home whenever possible.", """
A2| Working at home is good because you don't need to take the bus.
A2| You can sleep more in the morning.
A2| But you are alone all day and it is sad.
A2| Sometimes the internet is bad at home.
A2| I think working in the office is better.
A2| My father work at home and he is happy.
B1| The biggest advantage is that people don't waste time travelling to work.
B1| They can also spend more time with their families.
B1| However, some people feel lonely when they don't see their colleagues.
B1| It can be difficult to concentrate if there are children at home.
B1| I think people should be able to choose where they work.
B1| Personally, I prefer to work at home two days a week.
B2| Working remotely allows employees to organise their day more flexibly, which often improves their productivity.
B2| It also reduces traffic and pollution, since fewer people are commuting every day.
B2| On the downside, the boundary between work and private life can easily become blurred.
B2| Companies may also find it harder to build a strong team spirit when staff rarely meet.
B2| In my view, a hybrid arrangement offers the best of both worlds.
B2| I've worked from home myself, and I found that I needed a very strict routine to stay motivated.
C1| Proponents of remote work rightly point to the enormous savings in commuting time and office costs.
C1| It also opens up employment opportunities for people who would otherwise be excluded, such as those with disabilities.
C1| Nevertheless, there is mounting evidence that prolonged isolation can take a toll on employees' mental health.
C1| Furthermore, informal learning, which happens naturally in a shared workplace, is notoriously difficult to replicate online.
C1| Ultimately, I'd contend that the question is not whether to work from home, but how to strike a sensible balance.
C1| Any policy should be flexible enough to accommodate very different roles and personal circumstances.
"""),
    "car_free": ("Cities should ban cars from their centres.", """
A2| Without cars the air is clean.
A2| People can walk and ride a bike in the city.
A2| But old people need the car.
A2| Shops need cars and trucks for the things.
A2| I think it is a good idea for the big cities.
A2| In my city there are too many cars.
B1| If cars are banned, the city centre will be quieter and safer for everyone.
B1| People would walk more, which is good for their health.
B1| However, it would be difficult for people who live far away from the centre.
B1| Some shop owners are worried that they will lose customers.
B1| I agree with this idea, but there must be good public transport first.
B1| When I visited a city without cars, I really enjoyed walking around.
B2| Banning cars would dramatically reduce air pollution, which is responsible for many health problems.
B2| It would also free up space that could be turned into parks, cycle lanes and pedestrian areas.
B2| The main drawback is that people with limited mobility could find it much harder to reach the centre.
B2| Local businesses might suffer, at least in the short term, if deliveries become more complicated.
B2| On the whole, I'm in favour, provided that the ban is introduced gradually.
B2| I think cities need to invest heavily in alternatives before they take such a drastic step.
C1| A car free centre would not only improve air quality but also transform the character of urban spaces.
C1| Cities that have experimented with such schemes have often reported a surprising increase in footfall for local shops.
C1| That being said, an outright ban risks penalising residents who have no viable alternative.
C1| There's also a danger that congestion simply shifts to the surrounding neighbourhoods rather than disappearing.
C1| My own position is that targeted restrictions, combined with congestion charges, are more pragmatic than a blanket ban.
C1| Any such measure would need substantial investment in public transport to gain public acceptance.
"""),
    "gap_year": ("Young people should take a year off before starting university.", """
A2| A gap year is good because you can travel.
A2| You can work and get money.
A2| But you forget the things from school.
A2| Some students don't go to university after.
A2| I think it is a good idea for some people.
A2| My cousin travel one year in Australia.
B1| Taking a year off gives young people the chance to see the world before they start studying.
B1| They can also work and save money for university.
B1| On the other hand, some students lose the habit of studying.
B1| A gap year can also be very expensive if you travel a lot.
B1| In my opinion, it's a good idea if you have a clear plan.
B1| I didn't take a gap year, but sometimes I wish I had.
B2| A year out can help young people become more independent and mature before they start a degree.
B2| It also gives them time to think carefully about what they really want to study.
B2| The obvious risk is that some of them may lose momentum and never return to education.
B2| Moreover, not every family can afford to support a child who isn't studying or earning.
B2| I'd say it's worthwhile only if the year is used productively, for example by volunteering or working.
B2| Friends of mine who took a gap year seemed much more focused when they finally started university.
C1| Advocates of gap years maintain that they foster resilience, self reliance and a broader perspective on the world.
C1| Employers, too, often value the kind of experience that cannot be acquired in a classroom.
C1| Critics, on the other hand, argue that gap years have become a privilege of the wealthy.
C1| There's also the risk that an unstructured year simply delays important decisions rather than informing them.
C1| On reflection, I'd argue that the value of a gap year depends almost entirely on how deliberately it is planned.
C1| It should certainly not be seen as an obligation, let alone a prerequisite for success.
"""),
}

_P4_TOPICS = {
    "paper": ("how paper is recycled", "the stages of recycling used paper", """
A2| First people put the old paper in a blue box.
A2| Then a truck take the paper to a factory.
A2| In the factory they put water and make the paper soft.
A2| They take out the ink and the dirty things.
A2| Then the paper is flat and dry.
A2| At the end we have new paper and people use it again.
B1| First of all, people put their used paper into special recycling bins.
B1| Then the paper is collected by lorries and taken to a recycling plant.
B1| At the plant, the paper is mixed with water to make a kind of soup called pulp.
B1| After that, the ink and any plastic are removed from the pulp.
B1| Then the clean pulp is pressed flat and dried with big hot rollers.
B1| Finally, the new paper is cut into rolls and sent to shops, so it can be used again.
B2| The process begins when households and offices separate their waste paper into dedicated recycling bins.
B2| Once it has been collected, the paper is transported to a processing plant, where it is sorted by type.
B2| The sorted paper is then soaked in water and broken down into a thick mixture known as pulp.
B2| Next, the pulp is cleaned, which removes staples, glue and printing ink.
B2| The clean pulp is then spread onto a moving belt, pressed and dried by heated rollers.
B2| Finally, the recycled paper is wound onto huge rolls and sold to manufacturers, which completes the cycle.
C1| The cycle begins with the collection of waste paper, which households and businesses are expected to separate at source.
C1| It is subsequently transported to a processing facility, where it is graded according to quality.
C1| At this stage, the material is immersed in water and mechanically agitated until it disintegrates into pulp.
C1| Contaminants such as staples, adhesives and residual ink are then extracted through a series of screening processes.
C1| The purified pulp is subsequently spread in a thin layer, compressed and dried by a sequence of heated cylinders.
C1| Finally, the finished sheets are wound onto rolls and dispatched to manufacturers, thereby closing the loop.
"""),
    "bread": ("how bread is made in a bakery", "the main steps in making bread", """
A2| First you take flour, water and salt.
A2| Then you mix it with your hands.
A2| You wait one hour and the bread is big.
A2| Then you make the bread shape.
A2| You put the bread in the oven, it is very hot.
A2| At the end the bread is ready and you can eat.
B1| First of all, you need to mix flour, water, salt and yeast in a large bowl.
B1| Then you knead the dough for about ten minutes until it is smooth.
B1| After that, you leave it in a warm place for an hour so that it can rise.
B1| When it has risen, you divide it and shape it into loaves.
B1| Then the loaves are baked in a hot oven for about thirty minutes.
B1| Finally, the bread is left to cool before it is sliced and sold.
B2| To begin with, the baker combines flour, water, salt and yeast to form a rough dough.
B2| The dough is then kneaded thoroughly, which develops the gluten and gives the bread its structure.
B2| Next, the dough is left to rest in a warm place, where the yeast causes it to double in size.
B2| Once it has risen, it is knocked back, divided into portions and shaped into loaves.
B2| The loaves are then baked at a high temperature until they develop a golden crust.
B2| Finally, the bread is cooled on racks before being sliced, packaged and delivered to shops.
C1| The process commences with the baker combining flour, water, salt and yeast in carefully measured proportions.
C1| It is then kneaded vigorously, a step which develops the gluten network responsible for the bread's texture.
C1| Subsequently, the dough is left to prove in a warm environment, during which it roughly doubles in volume.
C1| Having risen, it is knocked back to release excess gas, then divided and shaped by hand or by machine.
C1| The loaves are then baked at a high temperature, which sets the crumb and produces a characteristic golden crust.
C1| Finally, the bread is cooled on racks, after which it is sliced, packaged and distributed to retailers.
"""),
    "parcel": ("how a parcel ordered online reaches your home", "what happens after you order something online", """
A2| First you buy something on the internet.
A2| Then a man put it in a box.
A2| A big truck take the box to other city.
A2| They look the address and put it in a small van.
A2| The driver bring the box to your house.
A2| If you are not at home, he come again tomorrow.
B1| First, the customer orders a product online and pays for it.
B1| Then the product is found in the warehouse and packed in a box.
B1| After that, the parcel is taken by lorry to a sorting centre.
B1| At the sorting centre, machines read the address and put the parcel in the right van.
B1| Then the driver brings the parcel to the customer's house.
B1| Finally, if nobody is at home, the parcel is left with a neighbour or taken back.
B2| The process starts when a customer places an order on the website and the payment is confirmed.
B2| Warehouse staff then locate the item, pack it securely and attach a label with a tracking number.
B2| The parcel is then transported by lorry to a regional sorting centre, where it is grouped by destination.
B2| Once it has been scanned, it is loaded onto a delivery van along with other parcels for the same area.
B2| The driver then delivers it to the customer's address, and the customer is notified by text message.
B2| Finally, if no one is in, the parcel is either left in a safe place or returned to a local depot.
C1| The sequence is triggered as soon as a customer places an order and the payment has been authorised.
C1| Staff at the fulfilment centre then retrieve the item, package it securely and assign it a unique tracking code.
C1| It is subsequently dispatched to a regional hub, where automated systems sort consignments by destination.
C1| Once scanned, it is allocated to a delivery route, which is optimised to minimise distance and fuel consumption.
C1| The courier then delivers it to the recipient, who is kept informed through real time notifications.
C1| Finally, should the delivery fail, the parcel is redirected to a collection point or rescheduled at the customer's convenience.
"""),
}

_P5_THEMES = {
    "health": (
        "A journalist is writing an article about how people keep healthy. She wants to find out your opinion "
        "about health and fitness.\\n\\nShe will ask you questions about:\\n\\n",
        {
            "sport at school": """
A2| Sport at school is very important.
A2| I play basketball at school two times in the week.
A2| Children need to move and play.
B1| I think schools should have more sport lessons because children sit down all day.
B1| When I was at school, we only had one hour of sport a week.
B1| Team sports are good because students learn to work together.
B2| Physical education is essential, not only for fitness but also for students' concentration in other lessons.
B2| Schools should offer a wider range of activities, so that students who dislike football can still find something they enjoy.
B2| I've read that children who do regular exercise tend to perform better academically.
C1| I'd argue that physical education is chronically undervalued compared with academic subjects.
C1| A well designed programme can instil lifelong habits, which is arguably more important than competitive success.
C1| The challenge is to make sport inclusive enough that less athletic pupils aren't put off for life.
""",
            "healthy eating": """
A2| I eat vegetables and fruit every day.
A2| Fast food is bad for you.
A2| I drink water and not cola.
B1| I try to eat healthy food, but it is not always easy when I am busy.
B1| I think healthy food is too expensive in supermarkets.
B1| My family always cooks fresh food at home, so we eat quite well.
B2| Eating well is largely a question of planning, because people tend to grab junk food when they're in a hurry.
B2| I think the government should make fresh produce cheaper and tax sugary drinks.
B2| Over the past year I've cut down on processed food, and I've noticed a real difference in my energy levels.
C1| Dietary habits are shaped by a complex interplay of income, education and cultural tradition.
C1| Simply urging people to eat more vegetables is unlikely to succeed unless healthy options become genuinely affordable.
C1| I'm rather sceptical of fashionable diets, most of which lack any robust scientific basis.
""",
            "sleep": """
A2| I sleep eight hours every night.
A2| If I don't sleep, I am tired at school.
A2| I go to bed at eleven.
B1| I know that sleep is important, but I usually go to bed too late.
B1| When I don't sleep enough, I can't concentrate at work.
B1| I think students need more sleep because they study a lot.
B2| Lack of sleep has a much bigger impact on our health than most people realise.
B2| I've found that switching off screens an hour before bed really helps me fall asleep.
B2| Many teenagers are chronically tired because school starts so early in the morning.
C1| Sleep is perhaps the most neglected pillar of a healthy lifestyle.
C1| There is growing evidence that chronic sleep deprivation is linked to a range of serious conditions.
C1| Our always online culture makes it remarkably difficult to protect a regular sleep routine.
""",
            "gyms and fitness apps": """
A2| I don't go to the gym, it is expensive.
A2| My brother use an app for running.
A2| I like to do exercise in the park.
B1| A lot of my friends go to the gym, but I prefer running outside.
B1| Fitness apps are useful because they show you how much exercise you do.
B1| Gyms can be very crowded in the evening after work.
B2| Fitness apps can be motivating, although I suspect most people stop using them after a few weeks.
B2| Gym memberships have become more affordable, which has encouraged more people to exercise regularly.
B2| Personally, I find exercising with other people far more motivating than following an app.
C1| The proliferation of fitness apps has made exercise more accessible, yet it also encourages an obsession with data.
C1| Gyms increasingly market themselves as lifestyle brands rather than simply places to work out.
C1| I'm wary of technology that turns every walk into a performance to be measured.
""",
            "health in the future": """
A2| In the future people live more years.
A2| Doctors will have new medicine.
A2| Maybe people will do less sport.
B1| I think people will live longer in the future because medicine is getting better.
B1| But maybe people will be less active because of computers and robots.
B1| Doctors will probably use more technology to help patients.
B2| I expect that personalised medicine will become far more common over the next few decades.
B2| On the other hand, if current trends continue, obesity could become an even bigger problem.
B2| Wearable devices will probably allow doctors to detect illnesses much earlier.
C1| Advances in genetics are likely to revolutionise the way we prevent and treat disease.
C1| However, such breakthroughs risk widening the gap between those who can afford them and those who cannot.
C1| The greatest challenge may well be persuading people to change long established habits.
""",
        },
    ),
    "tourism": (
        "A researcher is writing a report about tourism. He wants to find out your opinion about travel and "
        "tourism.\\n\\nHe will ask you questions about:\\n\\n",
        {
            "holidays abroad": """
A2| I like go to other countries.
A2| Last year I go to France with my family.
A2| It is nice to see new places.
B1| Going abroad is exciting because you can try new food and meet new people.
B1| I usually go abroad once a year, normally in the summer.
B1| It can be expensive, but I think it is worth it.
B2| Travelling abroad broadens your mind, especially if you make an effort to speak the local language.
B2| I'd rather spend my money on experiences than on things, so I travel whenever I can.
B2| That said, I've started taking more holidays in my own country to reduce my carbon footprint.
C1| Travel abroad can be genuinely transformative, provided one approaches it with curiosity rather than a checklist.
C1| I'm increasingly uneasy about the environmental cost of frequent long haul flights.
C1| Some of my most memorable trips have involved places that rarely feature in guidebooks.
""",
            "tourists in your town": """
A2| In my town there are many tourists in summer.
A2| Tourists buy things in the shops.
A2| Sometimes they are very noisy.
B1| Tourists are good for my town because they spend money in restaurants and hotels.
B1| But in the summer the streets are very crowded and it is difficult to park.
B1| I like meeting tourists because I can practise my English.
B2| Tourism brings a lot of jobs to my region, but most of them are seasonal and badly paid.
B2| House prices have risen sharply because so many flats have been turned into holiday rentals.
B2| I think the local council should find a better balance between visitors and residents.
C1| Mass tourism has undeniably revitalised the local economy, yet it has also eroded the town's character.
C1| Residents increasingly feel like strangers in their own neighbourhoods.
C1| A tourist tax, reinvested in local services, strikes me as a reasonable compromise.
""",
            "travelling alone": """
A2| I never travel alone.
A2| I like travel with my friends.
A2| Alone is boring for me.
B1| I think travelling alone is a good experience because you become more independent.
B1| The first time I travelled alone, I was a bit nervous.
B1| It's easier to meet new people when you are alone.
B2| Travelling solo forces you out of your comfort zone, which can be incredibly rewarding.
B2| You have complete freedom to decide where to go and how long to stay.
B2| Of course, safety is a concern, particularly in unfamiliar places at night.
C1| Solo travel cultivates a kind of self reliance that is difficult to acquire in any other way.
C1| There's a liberating quality to being accountable to nobody but yourself.
C1| Admittedly, moments of loneliness are inevitable, but they tend to be outweighed by unexpected encounters.
""",
            "cheap flights": """
A2| Cheap flights are good for young people.
A2| I buy tickets on the internet.
A2| Planes are bad for the air.
B1| Cheap flights mean that more people can travel to other countries.
B1| However, planes cause a lot of pollution.
B1| Sometimes the cheap airlines have extra costs for bags.
B2| Budget airlines have made travel accessible to millions of people who could never afford it before.
B2| The problem is that ticket prices don't reflect the real environmental cost of flying.
B2| I'd support a tax on frequent flyers, as long as the money is invested in rail networks.
C1| The democratisation of air travel is, in many ways, a remarkable achievement.
C1| Nonetheless, it's difficult to justify artificially low fares given what we know about aviation emissions.
C1| Ultimately, meaningful change will probably require coordinated regulation rather than individual restraint.
""",
            "tourism in the future": """
A2| In the future people travel more.
A2| Maybe we go to the moon for holiday.
A2| Hotels will be more expensive.
B1| I think more people will travel by train in the future because it is better for the environment.
B1| Maybe we will use virtual reality to visit other countries.
B1| Some places will have too many tourists.
B2| I suspect that tourism will become more regulated, with limits on visitor numbers in popular cities.
B2| Climate change could make some destinations far less attractive in summer.
B2| Technology will probably make it easier to plan trips, but it may also make them less spontaneous.
C1| I'd anticipate a gradual shift towards slower, more sustainable forms of travel.
C1| Popular destinations may have little choice but to introduce quotas or steep entrance fees.
C1| Whether such measures will be embraced or resented remains to be seen.
""",
        },
    ),
}

# Discourse markers put before a sentence now and then, graded like the sentences.
_OPENERS = (
    ("Yes,", "And", "So", "OK,", "Well,"),
    ("Also,", "For example,", "Well,", "Actually,", "In my opinion,"),
    ("To be honest,", "On the other hand,", "What's more,", "Generally speaking,", "As far as I know,"),
    ("Admittedly,", "Having said that,", "By and large,", "Interestingly,", "If anything,"),
)
# Used when a topic has no unused sentence left.
_FALLBACK = (
    ("I don't know more.", "It is very good.", "I like it very much.", "It is all."),
    ("That's all I can say about it.", "I think that's the most important thing.", "It's difficult to explain, but I like it."),
    ("I suppose that's the main point I wanted to make.", "It's hard to say exactly, but that's how I feel about it."),
    ("That, in a nutshell, is how I see it.", "I could elaborate further, but those are the essentials."),
)
_FILLERS = ("um", "er", "erm", "uh")


def _parse_pool(block: str) -> list[list[str]]:
    """``"A2| text"`` lines into ``pool[level][slot]``; every level must have the same number of slots."""
    pool: list[list[str]] = [[] for _ in LEVELS]
    for line in block.strip().splitlines():
        level, _, text = line.partition("|")
        pool[LEVELS.index(level.strip())].append(text.strip())
    if len({len(slots) for slots in pool}) != 1 or not pool[0]:
        raise ValueError(f"unbalanced text pool starting {block.strip()[:60]!r}")
    return pool


@dataclass(frozen=True)
class _Question:
    qid: str
    text: str  # kit style: literal "\n" sequences, not newlines
    pool: tuple[tuple[str, ...], ...]  # [level][slot]
    ordered: bool  # slots spoken in order (P3, P4) or shuffled (P1, P5)


def _pools():
    p1 = {k: (q, _parse_pool(b)) for k, (q, b) in _P1_TOPICS.items()}
    p3 = {k: (q, _parse_pool(b)) for k, (q, b) in _P3_TOPICS.items()}
    p4 = {k: (what, shows, _parse_pool(b)) for k, (what, shows, b) in _P4_TOPICS.items()}
    p5 = {k: (intro, {sub: _parse_pool(b) for sub, b in subs.items()}) for k, (intro, subs) in _P5_THEMES.items()}
    return p1, p3, p4, p5


_POOLS = _pools()


def _freeze(pool: list[list[str]]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(slots) for slots in pool)


def _questions_for(rng: np.random.Generator) -> dict[str, list[_Question]]:
    """The test form a learner gets: six P1 topics, one P3 statement, one P4 process, one P5 theme."""
    p1, p3, p4, p5 = _POOLS
    topics = list(p1)
    chosen = [topics[i] for i in rng.permutation(len(topics))[:6]]
    form: dict[str, list[_Question]] = {"P1": []}
    for qid, key in zip(QUESTION_IDS["P1"], chosen):
        question, pool = p1[key]
        form["P1"].append(_Question(qid, question, _freeze(pool), False))
    key = list(p3)[int(rng.integers(len(p3)))]
    statement, pool = p3[key]
    form["P3"] = [_Question("P30017", statement + _P3_TAIL, _freeze(pool), True)]
    key = list(p4)[int(rng.integers(len(p4)))]
    what, shows, pool = p4[key]
    text = (f"You have been asked to give a presentation about {what}.\\n\\nThis diagram shows {shows}.\\n\\n"
            f"Look at the diagram and then give your presentation, explaining {what}.")
    form["P4"] = [_Question("P40018", text, _freeze(pool), True)]
    key = list(p5)[int(rng.integers(len(p5)))]
    intro, subs = p5[key]
    names = list(subs)
    form["P5"] = []
    for qid, name in zip(QUESTION_IDS["P5"], names):
        bullets = "\\n".join(f"* **{n}**" if n == name else f"* {n}" for n in names)
        form["P5"].append(_Question(qid, intro + bullets, _freeze(subs[name]), False))
    return form


def corpus_texts(forms: int = 100, seed: int = 0) -> list[str]:
    """Every sentence of the graded pools and the question texts of `forms` test forms: text to train a tokenizer
    that covers this corpus (the tiny checkpoints' tokenizer, so sessions are not split into bytes)."""
    rng = np.random.default_rng(seed)
    texts = {question.text.replace("\\n", "\n") for _ in range(forms)
             for questions in _questions_for(rng).values() for question in questions}
    pools = [_POOLS[0][key][1] for key in _POOLS[0]] + [_POOLS[1][key][1] for key in _POOLS[1]]
    pools += [_POOLS[2][key][2] for key in _POOLS[2]]
    pools += [pool for _, subs in _POOLS[3].values() for pool in subs.values()]
    sentences = {sentence for pool in pools for level in pool for sentence in level}
    return sorted(texts) + sorted(sentences)


# --- learners ---------------------------------------------------------------------------------------------

def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _half_band(x: float) -> float:
    return float(min(MARK_MAX, max(MARK_MIN, round(x * 2.0) / 2.0)))


def _draw_counts(rng: np.random.Generator, table: dict) -> object:
    keys = list(table)
    weights = np.array([table[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


def _trait_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1, index, 0])


def _latent(seed: int, index: int) -> float:
    return float(_trait_rng(seed, index).standard_normal())  # the first draw of the trait generator


def _assign_l1(seed: int, split_of: dict[int, str], splits: tuple[str, ...]) -> dict[int, str]:
    """L1 voice per session, drawn apart from the latent but balanced against it.

    Within each split, sessions sorted by latent go in blocks of len(L1_VOICES); each block gets a random
    permutation of the voices. Every voice is equally likely at every latent, and the L1 groups have the
    same latent distribution up to one block, so score differences between L1 groups measure the accent's
    effect rather than sampling luck.
    """
    out: dict[int, str] = {}
    for k, split in enumerate(splits):
        members = sorted((i for i, s in split_of.items() if s == split), key=lambda i: (_latent(seed, i), i))
        rng = np.random.default_rng([seed, 2, k])
        n = len(L1_VOICES)
        for start in range(0, len(members), n):
            block = members[start:start + n]
            voices = rng.permutation(n)[: len(block)]
            for i, v in zip(block, voices):
                out[i] = L1_VOICES[int(v)]
    return out


def cue_loadings(cue_strength: float = 1.0) -> dict[str, float]:
    """Each cue's loading on the latent. `cue_strength` scales how much of a cue's variance the latent explains
    (its signal-to-noise ratio); loadings are capped at 0.95 so that no cue is the latent itself."""
    if cue_strength <= 0:
        raise ValueError("cue_strength must be positive")
    loadings = {}
    for name, rho in CUE_LOADINGS.items():
        ratio = cue_strength * rho * rho / (1.0 - rho * rho)
        loadings[name] = min(0.95, math.sqrt(ratio / (1.0 + ratio)))
    return loadings


def _draw_learner(seed: int, index: int, split: str, gaps: bool, l1: str | None = None,
                  cue_strength: float = 1.0) -> dict:
    """Everything about a learner that does not depend on the duration scale."""
    trait = _trait_rng(seed, index)
    structure = np.random.default_rng([seed, 1, index, 1])
    z = float(trait.standard_normal())
    cue_z = {}
    for name, rho in cue_loadings(cue_strength).items():
        cue_z[name] = rho * z + math.sqrt(1.0 - rho * rho) * float(trait.standard_normal())
    drawn = L1_VOICES[int(trait.integers(len(L1_VOICES)))]
    l1 = l1 if l1 is not None else drawn
    variant = VOICE_VARIANTS[int(trait.integers(len(VOICE_VARIANTS)))]
    pitch = int(trait.integers(35, 66))
    noise_dbfs = float(trait.uniform(-62.0, -48.0))
    peak = float(trait.uniform(0.35, 0.9))
    theta = LATENT_MEAN + LATENT_SD * z
    marks = {p: _half_band(theta + PART_OFFSET[p] + PART_NOISE_SD * float(trait.standard_normal())) for p in PARTS}
    marks["overall"] = sum(marks[p] for p in PARTS) / 4.0
    params = {
        "rate_wpm": float(np.clip(145.0 + 22.0 * cue_z["rate"], 95.0, 210.0)),
        "pause_scale": float(math.exp(-0.42 * cue_z["pause"])),
        "filler_prob": _sigmoid(-1.1 - 0.85 * cue_z["filler"]),
        "disfluency_rate": float(math.exp(-1.0 - 0.7 * cue_z["disfluency"])),
        "fill_target": float(np.clip(_sigmoid(1.0 + 0.9 * cue_z["length"]), 0.2, 1.0)),
        "lexical_level": 1.6 + 0.75 * cue_z["lexical"],
    }

    profile = _split_profile(split)
    if gaps and profile == "train":
        released = tuple(_draw_counts(structure, REAL_TRAIN_PART_PATTERNS))
        if len(released) == 4:
            overall_released = True
        else:
            k, n = REAL_TRAIN_OVERALL_WITHOUT_ALL_PARTS
            overall_released = bool(structure.random() < k / n)
    else:
        released, overall_released = PARTS, True
    answers: dict[str, tuple[str, ...]] = {}
    for part in PARTS:
        qids = QUESTION_IDS[part]
        if part not in released:
            answers[part] = ()
            continue
        count = len(qids)
        if gaps and part in ("P1", "P5"):
            count = int(_draw_counts(structure, REAL_ANSWER_COUNTS[profile][part]))
        keep = sorted(structure.permutation(len(qids))[:count].tolist())
        answers[part] = tuple(qids[i] for i in keep)
    folder = str(_draw_counts(structure, REAL_FOLDERS[profile]))
    return {
        "index": index,
        "session_id": f"{ID_PREFIX}-{index + 1:05d}",
        "split": split,
        "folder": folder,
        "l1": l1,
        "variant": variant,
        "voice": f"{l1}+{variant}",
        "pitch": pitch,
        "noise_dbfs": noise_dbfs,
        "peak": peak,
        "z": z,
        "theta": theta,
        "cue_z": cue_z,
        "params": params,
        "marks": marks,
        "released": tuple(p for p in PARTS if p in released),
        "overall_released": overall_released,
        "answers": answers,
    }


# --- speaking one answer -----------------------------------------------------------------------------------

@dataclass
class _Token:
    speak: str  # what espeak reads (may carry punctuation)
    word: str | None  # transcript word (upper case), None for a filler
    marks: tuple[str, ...] = ()


def _words_of(sentence: str) -> list[_Token]:
    tokens = []
    for raw in sentence.split():
        word = "".join(ch for ch in raw if ch.isalpha() or ch in "'-").strip("-'").upper()
        if word:
            tokens.append(_Token(raw, word))
    return tokens


def _plain(token: _Token) -> str:
    return token.speak.strip(",.;:!?")


def _with_disfluencies(tokens: list[_Token], n_events: int, rng: np.random.Generator) -> tuple[list[_Token], int]:
    """Insert repetitions (kit mark 'disfluency') and false starts (kit mark 'partial')."""
    done = 0
    for _ in range(n_events):
        if len(tokens) < 2:
            break
        kind = rng.random()
        pos = int(rng.integers(0, max(1, len(tokens) - 1)))
        if kind < 0.5:  # one word said twice
            t = tokens[pos]
            tokens.insert(pos, _Token(_plain(t), t.word, ("disfluency",)))
        elif kind < 0.7 and pos + 1 < len(tokens):  # two words said twice
            a, b = tokens[pos], tokens[pos + 1]
            tokens[pos:pos] = [_Token(_plain(a), a.word, ("disfluency",)), _Token(_plain(b), b.word, ("disfluency",))]
        else:  # a false start: the first letters of a longer word, then the word
            candidates = [i for i, t in enumerate(tokens) if t.word and len(t.word) >= 5]
            if not candidates:
                continue
            i = candidates[int(rng.integers(len(candidates)))]
            stem = _plain(tokens[i])
            cut = int(rng.integers(2, min(4, len(stem) - 2) + 1))
            piece = stem[:cut]
            tokens.insert(i, _Token(piece, piece.upper(), ("partial",)))
        done += 1
    return tokens, done


def _level_of_sentence(lexical: float, rng: np.random.Generator) -> int:
    return int(np.clip(round(lexical + 0.6 * float(rng.standard_normal())), 0, len(LEVELS) - 1))


class _SentenceSource:
    """Sentences for one answer: slot by slot, each at a level drawn around the learner's."""

    def __init__(self, question: _Question, lexical: float, rng: np.random.Generator):
        self.q, self.lexical, self.rng = question, lexical, rng
        n_slots = len(question.pool[0])
        self.order = list(range(n_slots)) if question.ordered else rng.permutation(n_slots).tolist()
        self.used: set[tuple[int, int]] = set()
        self.pos = 0

    def next(self) -> tuple[str, int]:
        level = _level_of_sentence(self.lexical, self.rng)
        pool = self.q.pool
        if self.pos < len(self.order):
            slot = self.order[self.pos]
            self.pos += 1
        else:  # all points made: say one again in other words, or close
            free = [(lv, s) for lv in range(len(LEVELS)) for s in range(len(pool[0])) if (lv, s) not in self.used
                    and abs(lv - level) <= 1]
            if not free:
                options = _FALLBACK[level]
                return options[int(self.rng.integers(len(options)))], level
            level, slot = free[int(self.rng.integers(len(free)))]
        self.used.add((level, slot))
        sentence = pool[level][slot]
        head = sentence.split(",", 1)[0]
        starts_with_marker = "," in sentence and len(head.split()) <= 3  # "Having said that, ..."
        if self.rng.random() < 0.3 and not starts_with_marker:
            opener = _OPENERS[level][int(self.rng.integers(len(_OPENERS[level])))]
            if sentence.split(" ", 1)[0] not in ("I", "I'm", "I've", "I'd"):
                sentence = sentence[0].lower() + sentence[1:]
            sentence = f"{opener} {sentence}"
        return sentence, level


def _synth(text: str, learner: dict, rate: float) -> tuple[np.ndarray, list]:
    from .espeak_tts import synthesize_native  # noqa: PLC0415

    return synthesize_native(text, learner["voice"], int(round(rate)), learner["pitch"], seed=0)


def _token_starts(tokens: list[_Token], text: str, timings: list, n_samples: int) -> list[int]:
    """Start sample of every token in the chunk audio; tokens espeak reported no event for are interpolated."""
    offsets, pos = [], 0
    for t in tokens:
        plain = _plain(t) or t.speak
        at = text.find(plain, pos)
        at = pos if at < 0 else at
        offsets.append(at)
        pos = at + len(plain)
    by_offset = {w.char_offset: w.sample for w in timings}
    known = [(o, by_offset[o]) for o in offsets if o in by_offset]
    if not known:
        known = [(0, 0)]
    xs = [0] + [o for o, _ in known] + [len(text)]
    ys = [0] + [s for _, s in known] + [n_samples]
    starts = np.interp(offsets, xs, ys)
    starts[0] = 0
    return [int(s) for s in np.maximum.accumulate(starts)]


def _speak_answer(learner: dict, question: _Question, part: str, scale: float, rng: np.random.Generator,
                  native_rate: int) -> dict:
    """Speak one answer; returns 16 kHz audio, the kit-style transcript and the cue statistics."""
    import soxr  # noqa: PLC0415

    prm = learner["params"]
    allotted = max(1.5, SPEAKING_TIME[part] * scale)
    limit = int(allotted * native_rate)
    pause_time = min(1.0, 0.4 + 0.6 * scale)  # pauses shrink less than the allotted time
    fill = float(np.clip(prm["fill_target"] * math.exp(0.12 * float(rng.standard_normal())), 0.15, 1.05))
    target = int(fill * allotted * native_rate)
    rate_answer = prm["rate_wpm"] * math.exp(0.05 * float(rng.standard_normal()))
    source = _SentenceSource(question, prm["lexical_level"], rng)

    pieces: list[np.ndarray] = []
    length = 0
    transcript: list[dict] = []
    stats = {"words": 0, "letters": 0, "fillers": 0, "disfluencies": 0, "pauses": 0, "pause_s": 0.0,
             "levels": [], "speech_s": 0.0}
    cut = False

    def add_audio(audio: np.ndarray) -> None:
        nonlocal length
        pieces.append(audio)
        length += audio.size

    def add_silence(seconds: float) -> bool:
        n = int(seconds * native_rate)
        if length + n >= limit:
            return False
        add_audio(np.zeros(n, np.float32))
        return True

    def pause_len(mean: float) -> float:
        return float(rng.gamma(4.0, mean * prm["pause_scale"] * pause_time / 4.0))

    def add_pause(mean: float) -> bool:
        """A silent pause, sometimes with a filler in it. False when the time is up."""
        seconds = pause_len(mean)
        stats["pauses"] += 1
        stats["pause_s"] += seconds
        if rng.random() < prm["filler_prob"]:
            before = seconds * float(rng.uniform(0.2, 0.6))
            if not add_silence(before):
                return False
            filler = _FILLERS[int(rng.integers(len(_FILLERS)))]
            audio, _ = _synth(filler, learner, rate_answer * 0.8)
            if length + audio.size >= limit:
                return False
            add_audio(audio)
            transcript.append({"tag": "hesitation"})
            stats["fillers"] += 1
            return add_silence(seconds - before)
        return add_silence(seconds)

    # delay before the first word (never more than a quarter of the allotted time)
    add_silence(min(0.25 * allotted, (0.2 + 0.3 * prm["pause_scale"]) * pause_time * float(rng.uniform(0.6, 1.4))))
    first = True
    while not cut and (first or length < target):
        if not first and not add_pause(0.55):
            cut = True
            break
        sentence, level = source.next()
        stats["levels"].append(level)
        tokens = _words_of(sentence)
        n_events = int(rng.poisson(prm["disfluency_rate"]))
        tokens, n_done = _with_disfluencies(tokens, n_events, rng)
        stats["disfluencies"] += n_done
        # split the sentence into chunks at pauses (likelier after commas)
        chunks: list[list[_Token]] = [[]]
        for i, t in enumerate(tokens):
            chunks[-1].append(t)
            if i < len(tokens) - 1:
                p = 0.05 * prm["pause_scale"] * (4.0 if t.speak.endswith(",") else 1.0)
                if rng.random() < min(0.6, p):
                    chunks.append([])
        sentence_rate = rate_answer * math.exp(0.04 * float(rng.standard_normal()))
        for c, chunk in enumerate(chunks):
            if c > 0 and not add_pause(0.35):
                cut = True
                break
            text = " ".join(t.speak for t in chunk)
            text = text.rstrip(",.;:!?") + ("." if c == len(chunks) - 1 else ",")
            audio, timings = _synth(text, learner, sentence_rate)
            if audio.size == 0:
                continue
            room = limit - length
            if audio.size <= room:
                add_audio(audio)
                stats["speech_s"] += audio.size / native_rate
                for t in chunk:
                    entry = {"word": t.word}
                    if t.marks:
                        entry["marks"] = list(t.marks)
                    transcript.append(entry)
                    stats["words"] += 1
                    stats["letters"] += len(t.word)
                continue
            # the time is up inside this chunk: keep the words started, the last one maybe partial
            starts = _token_starts(chunk, text, timings, audio.size)
            keep_audio = room
            for k, t in enumerate(chunk):
                start = starts[k]
                end = starts[k + 1] if k + 1 < len(chunk) else audio.size
                if k == 0 and stats["words"] == 0:  # an answer says at least its first word
                    keep_audio, frac = max(room, end), 1.0
                elif start >= room:
                    break
                else:
                    frac = (room - start) / max(1, end - start)
                if frac >= 0.9:
                    entry = {"word": t.word}
                    if t.marks:
                        entry["marks"] = list(t.marks)
                elif frac >= 0.3:
                    letters = max(1, int(round(len(t.word) * frac)))
                    entry = {"word": t.word[:letters], "marks": ["partial"]}
                else:
                    keep_audio = start
                    break
                transcript.append(entry)
                stats["words"] += 1
                stats["letters"] += len(entry["word"])
            piece = audio[:keep_audio].copy()
            fade = min(piece.size, int(0.01 * native_rate))
            if fade:
                piece[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
            add_audio(piece)
            stats["speech_s"] += piece.size / native_rate
            cut = True
            break
        first = False
        if not cut:
            transcript.append({"tag": "speech-unit-statement"})
    if cut and (not transcript or transcript[-1].get("tag") != "speech-unit-statement"):
        transcript.append({"tag": "speech-unit-incomplete"})  # time ran out inside a sentence
    else:  # a little silence after the last word, inside the allotted time
        add_silence(min(float(rng.uniform(0.2, 0.6)) * pause_time, max(0.0, (limit - length) / native_rate - 0.01)))

    native = np.concatenate(pieces) if pieces else np.zeros(int(0.5 * native_rate), np.float32)
    audio = soxr.resample(native, native_rate, SAMPLE_RATE).astype(np.float32)
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 0:
        audio *= learner["peak"] / peak
    audio += (10.0 ** (learner["noise_dbfs"] / 20.0)) * rng.standard_normal(audio.size).astype(np.float32)
    np.clip(audio, -1.0, 1.0, out=audio)
    return {
        "audio": audio,
        "transcript": transcript,
        "allotted_s": allotted,
        "hit_limit": cut,
        "stats": stats,
    }


# --- measurements -----------------------------------------------------------------------------------------

def voiced_fraction(audio: np.ndarray, sample_rate: int = SAMPLE_RATE, frame_s: float = 0.02,
                    relative_db: float = -20.0) -> float:
    """Share of 20 ms frames whose RMS is within ``relative_db`` of the clip's 95th-percentile frame RMS."""
    frame = max(1, int(frame_s * sample_rate))
    n = audio.size // frame
    if n == 0:
        return 0.0
    rms = np.sqrt(np.mean(np.square(audio[: n * frame].reshape(n, frame).astype(np.float64)), axis=1))
    ref = float(np.percentile(rms, 95))
    if ref <= 0:
        return 0.0
    return float(np.mean(rms > ref * 10.0 ** (relative_db / 20.0)))


def _ridge_fit(x: np.ndarray, y: np.ndarray, alpha: float):
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 0, sd, 1.0)
    xs = (x - mu) / sd
    y_mean = y.mean()
    beta = np.linalg.solve(xs.T @ xs + alpha * np.eye(x.shape[1]), xs.T @ (y - y_mean))
    return lambda new: ((new - mu) / sd) @ beta + y_mean


def ridge_r2(x: np.ndarray, y: np.ndarray, *, alpha: float = 1.0, folds: int = 5, repeats: int = 10,
             seed: int = 0) -> dict:
    """Ridge regression (numpy, standardised features) of ``y`` on the columns of ``x``.

    Returns the in-sample R² and the held-out R² of k-fold cross-validation (out-of-fold predictions
    pooled over the folds, averaged over ``repeats`` random fold assignments). Held-out is None with fewer
    than 2 * folds rows."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    out = {"n": int(len(y)), "alpha": alpha, "folds": folds, "repeats": repeats, "r2_in_sample": None,
           "r2_heldout": None}
    if len(y) < 3 or float(np.var(y)) == 0.0:
        return out
    ss = float(np.sum((y - y.mean()) ** 2))
    out["r2_in_sample"] = 1.0 - float(np.sum((y - _ridge_fit(x, y, alpha)(x)) ** 2)) / ss
    if len(y) >= 2 * folds:
        scores = []
        rng = np.random.default_rng(seed)
        for _ in range(max(1, repeats)):
            order = rng.permutation(len(y))
            pred = np.empty_like(y)
            for k in range(folds):
                test = order[k::folds]
                train = np.setdiff1d(order, test)
                pred[test] = _ridge_fit(x[train], y[train], alpha)(x[test])
            scores.append(1.0 - float(np.sum((y - pred) ** 2)) / ss)
        out["r2_heldout"] = float(np.mean(scores))
    return out


def _pearson(a, b) -> float | None:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return None
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


# --- one session (runs in a worker process) -----------------------------------------------------------------

def _relative_path(split: str, folder: str, part: str, file_id: str) -> str:
    if split == "train":  # the real train tree has one folder per part, dev has none
        return f"data/flac/{split}/{folder}/{part}/{file_id}.flac"
    return f"data/flac/{split}/{folder}/{file_id}.flac"


def _session_worker(task: tuple) -> dict:
    import soundfile as sf  # noqa: PLC0415

    from . import espeak_tts  # noqa: PLC0415

    output, seed, index, split, scale, gaps, l1, cue_strength = task
    learner = _draw_learner(seed, index, split, gaps, l1, cue_strength)
    form = _questions_for(np.random.default_rng([seed, 1, index, 2]))
    speech_rng = np.random.default_rng([seed, 1, index, 3])
    espeak_tts.reset()  # the same bytes whatever this process synthesised before
    native_rate = espeak_tts.native_sample_rate()
    responses = []
    for part in PARTS:
        for question in form[part]:
            if question.qid not in learner["answers"][part]:
                continue
            answer = _speak_answer(learner, question, part, scale, speech_rng, native_rate)
            file_id = f"{learner['session_id']}-{question.qid}"
            rel = _relative_path(split, learner["folder"], part, file_id)
            path = os.path.join(output, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            sf.write(path, answer["audio"], SAMPLE_RATE, format="FLAC", subtype="PCM_16")
            duration = answer["audio"].size / SAMPLE_RATE
            voiced = voiced_fraction(answer["audio"])
            st = answer["stats"]
            responses.append({
                "file_id": file_id,
                "part": part,
                "question_id": question.qid,
                "path": rel,
                "question": json.dumps({"text": question.text, "speaking-time": _seconds(answer["allotted_s"]),
                                        "thinking-time": THINKING_TIME[part]}),
                "transcript": answer["transcript"],
                "duration_s": duration,
                "voiced_fraction": voiced,
                "voiced_s": voiced * duration,
                "allotted_s": answer["allotted_s"],
                "hit_limit": answer["hit_limit"],
                **{k: v for k, v in st.items() if k != "levels"},
                "levels": list(st["levels"]),
            })
    learner = dict(learner)
    learner["responses"] = responses
    return learner


def _seconds(x: float):
    return int(x) if float(x).is_integer() else round(float(x), 1)


# --- the corpus -------------------------------------------------------------------------------------------

def _split_sizes(n: int, splits: tuple[str, ...]) -> dict[str, int]:
    if n < len(splits):
        raise ValueError(f"need at least one session per split: {n} sessions for {len(splits)} splits")
    shares = np.array([SPLIT_SHARES.get(s, 0.15) for s in splits], dtype=float)
    shares /= shares.sum()
    sizes = np.maximum(1, np.round(shares * n)).astype(int)
    while sizes.sum() > n:
        sizes[int(np.argmax(sizes))] -= 1
    while sizes.sum() < n:
        sizes[0] += 1
    return dict(zip(splits, sizes.tolist()))


def _prepare_output(root: Path, overwrite: bool) -> None:
    ours = [root / "data" / "flac", root / "reference-materials", root / "synthetic-summary.json"]
    present = [p for p in ours if p.exists()]
    if not present:
        return
    if not overwrite:
        raise FileExistsError(f"{root} already holds a corpus ({present[0]}); pass overwrite=True (--overwrite)")
    if not (root / "synthetic-summary.json").exists():
        raise FileExistsError(f"{root} holds data that this generator did not write; refusing to delete it")
    for p in present:
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def _write_tsv(path: Path, rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        for row in rows:
            handle.write("\t".join(str(x) for x in row) + "\n")


def _write_kit_files(root: Path, sessions: list[dict], splits: tuple[str, ...]) -> None:
    ref = root / "reference-materials"
    for split in splits:
        rows = [s for s in sessions if s["split"] == split]
        for part in PARTS:
            files = sorted((r["file_id"], r["path"]) for s in rows for r in s["responses"] if r["part"] == part)
            _write_tsv(ref / "flists.flac" / f"{split}-sla-{part}.tsv", files)
            marks = sorted((s["session_id"], f"{s['marks'][part]:.3f}") for s in rows if part in s["released"])
            _write_tsv(ref / "sla-marks" / f"{split}-sla-{part}.tsv", marks)
        with_overall = [s for s in rows if s["overall_released"]]
        files = sorted((r["file_id"], r["path"]) for s in with_overall for r in s["responses"])
        _write_tsv(ref / "flists.flac" / f"{split}-sla-overall.tsv", files)
        marks = sorted((s["session_id"], f"{s['marks']['overall']:.3f}") for s in with_overall)
        _write_tsv(ref / "sla-marks" / f"{split}-sla-overall.tsv", marks)
        entries = [
            {"File-id": r["file_id"], "Transcript": r["transcript"], "Question": r["question"]}
            for s in sorted(rows, key=lambda s: s["session_id"]) for r in s["responses"]
        ]
        (ref / "annotations").mkdir(parents=True, exist_ok=True)
        with open(ref / "annotations" / f"{split}-synthetic-trans-ref.json", "w", encoding="utf-8") as handle:
            json.dump({"ref-type": "transcription", "files": entries}, handle)
    _write_speakers(ref / "speakers.tsv", sessions)


_SPEAKER_COLUMNS = (
    "submission_id", "split", "flac_folder", "l1_voice", "voice_variant", "espeak_voice", "pitch", "latent_z",
    "proficiency", *(f"cue_{c}_z" for c in CUE_LOADINGS), "rate_wpm", "pause_scale", "filler_prob",
    "disfluency_rate", "fill_target", "lexical_level", "noise_dbfs", "parts_released", "overall_released",
    "responses", "true_P1", "true_P3", "true_P4", "true_P5", "true_overall",
)


def _write_speakers(path: Path, sessions: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(_SPEAKER_COLUMNS)
        for s in sorted(sessions, key=lambda s: s["session_id"]):
            p = s["params"]
            writer.writerow([
                s["session_id"], s["split"], s["folder"], s["l1"], s["variant"], s["voice"], s["pitch"],
                f"{s['z']:.4f}", f"{s['theta']:.4f}", *(f"{s['cue_z'][c]:.4f}" for c in CUE_LOADINGS),
                f"{p['rate_wpm']:.1f}", f"{p['pause_scale']:.4f}", f"{p['filler_prob']:.4f}",
                f"{p['disfluency_rate']:.4f}", f"{p['fill_target']:.4f}", f"{p['lexical_level']:.4f}",
                f"{s['noise_dbfs']:.1f}", ",".join(s["released"]) or "-", int(s["overall_released"]),
                len(s["responses"]), *(f"{s['marks'][t]:.3f}" for t in (*PARTS, "overall")),
            ])


def _session_measures(s: dict) -> dict:
    rs = s["responses"]
    if not rs:
        return {}
    total = sum(r["duration_s"] for r in rs)
    words = sum(r["words"] for r in rs)
    letters = sum(r["letters"] for r in rs)
    speech = sum(r["speech_s"] for r in rs)
    levels = [lv for r in rs for lv in r["levels"]]
    return {
        "letters_per_speech_s": letters / speech if speech > 0 else float("nan"),
        "pause_s_per_sentence": sum(r["pause_s"] for r in rs) / max(1, len(levels)),
        "fillers_per_100_words": 100.0 * sum(r["fillers"] for r in rs) / max(1, words),
        "disfluencies_per_100_words": 100.0 * sum(r["disfluencies"] for r in rs) / max(1, words),
        "fill_ratio": float(np.mean([r["duration_s"] / r["allotted_s"] for r in rs])),
        "mean_sentence_level": float(np.mean(levels)) if levels else float("nan"),
        "voiced_fraction": sum(r["voiced_s"] for r in rs) / total if total > 0 else float("nan"),
    }


def _summarise(sessions: list[dict], splits, seed: int, scale: float, wall: float, workers: int,
               cue_strength: float = 1.0, gaps: bool = True) -> dict:
    summary: dict = {"seed": seed, "sessions": len(sessions), "duration_scale": scale, "cue_strength": cue_strength,
                     "gaps": gaps, "splits": {}}
    all_audio = 0.0
    for split in splits:
        rows = [s for s in sessions if s["split"] == split]
        audio = sum(r["duration_s"] for s in rows for r in s["responses"])
        all_audio += audio
        n = max(1, len(rows))
        missing_p1 = sum(1 for s in rows if "P1" in s["released"] and len(s["answers"]["P1"]) < 6)
        missing_p5 = sum(1 for s in rows if "P5" in s["released"] and len(s["answers"]["P5"]) < 5)
        with_p1 = max(1, sum(1 for s in rows if "P1" in s["released"]))
        with_p5 = max(1, sum(1 for s in rows if "P5" in s["released"]))
        summary["splits"][split] = {
            "sessions": len(rows),
            "responses": sum(len(s["responses"]) for s in rows),
            "responses_per_part": {p: sum(1 for s in rows for r in s["responses"] if r["part"] == p) for p in PARTS},
            "audio_hours": audio / 3600.0,
            "sessions_with_all_four_parts": sum(1 for s in rows if len(s["released"]) == 4),
            "sessions_with_overall_mark": sum(1 for s in rows if s["overall_released"]),
            "sessions_missing_parts": sum(1 for s in rows if len(s["released"]) < 4),
            "overall_mark_without_all_parts": sum(1 for s in rows if s["overall_released"] and len(s["released"]) < 4),
            "p1_sessions_missing_answers": missing_p1,
            "p5_sessions_missing_answers": missing_p5,
            "missing_answers": sum(len(QUESTION_IDS[p]) - len(s["answers"][p]) for s in rows for p in s["released"]),
            "rates": {
                "all_four_parts": sum(1 for s in rows if len(s["released"]) == 4) / n,
                "overall_mark": sum(1 for s in rows if s["overall_released"]) / n,
                "p1_sessions_missing_answers": missing_p1 / with_p1,
                "p5_sessions_missing_answers": missing_p5 / with_p5,
            },
            "real_kit_rates": REAL_KIT_RATES[_split_profile(split)],
            "hit_time_limit": sum(1 for s in rows for r in s["responses"] if r["hit_limit"]),
        }
    summary["responses"] = sum(len(s["responses"]) for s in sessions)
    summary["audio_hours"] = all_audio / 3600.0

    # Two-feature check: overall mark from answer durations and voiced fraction alone.
    full = [s for s in sessions if s["overall_released"] and len(s["released"]) == 4]
    feats, target = [], []
    for s in full:
        row = [float(np.mean([r["duration_s"] for r in s["responses"] if r["part"] == p])) for p in PARTS]
        row.append(_session_measures(s)["voiced_fraction"])
        feats.append(row)
        target.append(s["marks"]["overall"])
    ridge = ridge_r2(np.array(feats).reshape(len(feats), 5), np.array(target), seed=seed)
    ridge["features"] = [f"mean_duration_{p}" for p in PARTS] + ["voiced_fraction"]
    ridge["sessions"] = ("sessions with an overall mark and all four parts; held-out = 5-fold cross-validation "
                         "averaged over 10 fold assignments")
    summary["ridge_duration_voiced"] = ridge

    # Every measured cue together (what a model could learn from audio and words).
    measure_names = list(_session_measures(full[0]).keys()) if full else []
    if full:
        x = np.array([[_session_measures(s)[m] for m in measure_names] + [
            float(np.mean([r["duration_s"] for r in s["responses"] if r["part"] == p])) for p in PARTS] for s in full])
        col_mean = np.nanmean(np.where(np.isfinite(x), x, np.nan), axis=0)
        x = np.where(np.isfinite(x), x, np.nan_to_num(col_mean)[None, :])
        summary["ridge_all_cues"] = {**ridge_r2(x, np.array(target), seed=seed),
                                     "features": measure_names + [f"mean_duration_{p}" for p in PARTS]}
        summary["ridge_words_level_only"] = ridge_r2(
            x[:, [measure_names.index("mean_sentence_level")]], np.array(target), seed=seed)

    z = [s["z"] for s in sessions]
    summary["cue_correlations_with_latent"] = {
        "loadings": dict(CUE_LOADINGS),
        "parameters": {name: _pearson([s["params"][name] for s in sessions], z)
                       for name in ("rate_wpm", "pause_scale", "filler_prob", "disfluency_rate", "fill_target",
                                    "lexical_level")},
        "measured": {},
        "sessions": len(sessions),
    }
    measured = [(_session_measures(s), s["z"]) for s in sessions if s["responses"]]
    for name in (measure_names or ["voiced_fraction"]):
        summary["cue_correlations_with_latent"]["measured"][name] = _pearson(
            [m.get(name, float("nan")) for m, _ in measured], [v for _, v in measured])
    summary["cue_correlations_with_latent"]["l1_vs_latent_eta2"] = _eta_squared(
        [s["l1"] for s in sessions], z)
    summary["l1_groups"] = {
        l1: {"sessions": sum(1 for s in sessions if s["l1"] == l1),
             "mean_latent_z": _mean([s["z"] for s in sessions if s["l1"] == l1]),
             "mean_true_overall": _mean([s["marks"]["overall"] for s in sessions if s["l1"] == l1])}
        for l1 in L1_VOICES
    }
    audio_s = all_audio
    summary["timing"] = {
        "wall_s": wall, "workers": workers,
        "sessions_per_s": len(sessions) / wall if wall > 0 else None,
        "audio_s_per_wall_s": audio_s / wall if wall > 0 else None,
    }
    return summary


def _mean(values) -> float | None:
    return float(np.mean(values)) if len(values) else None


def _eta_squared(groups, values) -> float | None:
    """Share of the variance of ``values`` explained by the group labels (0 when L1 says nothing)."""
    v = np.asarray(values, dtype=float)
    if v.size < 3 or v.var() == 0:
        return None
    total = float(np.sum((v - v.mean()) ** 2))
    between = 0.0
    for g in set(groups):
        member = v[[i for i, x in enumerate(groups) if x == g]]
        between += member.size * float((member.mean() - v.mean()) ** 2)
    return between / total


def _format_summary(summary: dict) -> str:
    def f(x, spec=".3f"):
        return "n/a" if x is None else format(x, spec)

    lines = [f"synthetic S&I corpus: {summary['sessions']} sessions, {summary['responses']} responses, "
             f"{summary['audio_hours']:.2f} h audio (duration scale {summary['duration_scale']:g}, "
             f"seed {summary['seed']})"]
    for split, s in summary["splits"].items():
        r, real = s["rates"], s["real_kit_rates"]
        lines.append(
            f"  {split:5s}: {s['sessions']} sessions, {s['responses']} responses, {s['audio_hours']:.2f} h; "
            f"all four parts {r['all_four_parts']:.2f} (real {real['all_four_parts']:.2f}), overall mark "
            f"{r['overall_mark']:.2f} (real {real['overall_mark']:.2f}), P1 missing answers "
            f"{r['p1_sessions_missing_answers']:.2f} (real {real['p1_sessions_missing_answers']:.2f}), P5 "
            f"{r['p5_sessions_missing_answers']:.2f} (real {real['p5_sessions_missing_answers']:.2f})")
    rd = summary["ridge_duration_voiced"]
    lines.append(f"  ridge of overall on answer durations + voiced fraction ({rd['n']} sessions): R² held-out "
                 f"(5-fold CV) {f(rd['r2_heldout'])}, in-sample {f(rd['r2_in_sample'])}")
    if "ridge_all_cues" in summary:
        ra, rw = summary["ridge_all_cues"], summary["ridge_words_level_only"]
        lines.append(f"  ridge on all measured cues: R² held-out {f(ra['r2_heldout'])}; sentence level alone "
                     f"{f(rw['r2_heldout'])}")
    cc = summary["cue_correlations_with_latent"]
    lines.append("  correlation with the latent, cue parameters: " + ", ".join(
        f"{k} {f(v, '+.2f')}" for k, v in cc["parameters"].items()))
    lines.append("  correlation with the latent, measured: " + ", ".join(
        f"{k} {f(v, '+.2f')}" for k, v in cc["measured"].items()))
    lines.append(f"  L1 vs latent eta²: {f(cc['l1_vs_latent_eta2'])}")
    t = summary["timing"]
    lines.append(f"  speed: {f(t['sessions_per_s'], '.2f')} sessions/s, {f(t['audio_s_per_wall_s'], '.0f')} audio s "
                 f"per wall s ({t['wall_s']:.1f} s, {t['workers']} workers)")
    return "\n".join(lines)


def make_synthetic_corpus(
    output: str | os.PathLike,
    sessions: int = 120,
    seed: int = 0,
    duration_scale: float = 1.0,
    splits: tuple[str, ...] = DEFAULT_SPLITS,
    progress: bool = True,
    *,
    workers: int | None = None,
    gaps: bool = True,
    overwrite: bool = False,
    cue_strength: float = 1.0,
) -> dict:
    """Write a synthetic Speak & Improve corpus in the kit layout under ``output``; return its summary.

    sessions: learners (submissions) in all, shared 70/15/15 between train/dev/eval (at least one each).
    duration_scale: multiplies every allotted speaking time (P1 and P5 20 s, P3 and P4 60 s at 1.0), so
        answers get shorter (fewer sentences); learners, marks and the layout do not change with it.
    progress: tqdm bar and printed summary. workers: processes (default: up to 2, one per CPU).
    gaps: make sessions incomplete like the real train split (False: every part and answer present).
    overwrite: replace a corpus this function wrote before in ``output``.
    cue_strength: multiplies each cue's signal-to-noise ratio (1.0: loadings of 0.45-0.75, like real learners'
        loosely coupled skills). The demo uses more, so that a small random model can learn in minutes.
    """
    if not 1 <= sessions <= 99999:
        raise ValueError("sessions must be in 1-99999 (submission IDs have five digits)")
    if not duration_scale > 0:
        raise ValueError("duration_scale must be positive")
    splits = tuple(splits)
    if len(set(splits)) != len(splits) or not splits:
        raise ValueError(f"splits must be distinct names, got {splits!r}")
    root = Path(output)
    root.mkdir(parents=True, exist_ok=True)
    _prepare_output(root, overwrite)

    sizes = _split_sizes(sessions, splits)
    order = np.random.default_rng([seed, 0]).permutation(sessions)
    split_of = {}
    start = 0
    for split in splits:
        for i in order[start:start + sizes[split]]:
            split_of[int(i)] = split
        start += sizes[split]
    l1_of = _assign_l1(seed, split_of, splits)
    tasks = [(str(root), seed, i, split_of[i], float(duration_scale), gaps, l1_of[i], float(cue_strength))
             for i in range(sessions)]

    if workers is None:
        workers = max(1, min(2, os.cpu_count() or 1))
    workers = max(1, min(int(workers), sessions))
    started = time.perf_counter()
    results: list[dict] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415

        bar = tqdm(total=sessions, unit="session", desc="synthetic S&I", file=sys.stderr)
    audio_s = 0.0
    try:
        if workers == 1:
            iterator = map(_session_worker, tasks)
            pool = None
        else:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            pool = multiprocessing.get_context(method).Pool(workers)
            iterator = pool.imap_unordered(_session_worker, tasks, chunksize=1)
        try:
            for result in iterator:
                results.append(result)
                audio_s += sum(r["duration_s"] for r in result["responses"])
                if bar is not None:
                    elapsed = time.perf_counter() - started
                    bar.set_postfix_str(f"{audio_s / max(elapsed, 1e-9):.0f}x real time", refresh=False)
                    bar.update(1)
        finally:
            if pool is not None:
                pool.close()
                pool.join()
    finally:
        if bar is not None:
            bar.close()
    results.sort(key=lambda s: s["index"])
    wall = time.perf_counter() - started

    _write_kit_files(root, results, splits)
    summary = _summarise(results, splits, seed, float(duration_scale), wall, workers, float(cue_strength), gaps)
    with open(root / "synthetic-summary.json", "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    if progress:
        print(_format_summary(summary))
    return summary
